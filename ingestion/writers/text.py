"""Text and type helpers both writers share: one source of truth for each."""

from __future__ import annotations


def one_line(err: BaseException) -> str:
    """A driver error as one line of at most 1,000 characters (ledger errors, terminal output)."""
    return " ".join(str(err).split())[:1000]


def utf8_encodable(value: str) -> bool:
    """False when the value holds undecodable source bytes (surrogate escapes) UTF-8 cannot encode."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def first_invalid_byte(value: str) -> int:
    """The first non-ASCII source byte of a value that is not valid UTF-8 (for the reject reason)."""
    return next((b for b in value.encode("utf-8", "surrogateescape") if b >= 0x80), 0)


def storable(value: str | None, limit: int | None = 1_000_000) -> str | None:
    """Text a database can store: NULs and undecodable bytes made visible, values longer than
    ``limit`` characters cut (None: no cut)."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "\\x00")
    if not utf8_encodable(value):
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if limit is not None and len(value) > limit:
        value = value[:limit] + f"… [{len(value) - limit} more characters]"
    return value


def fit(value: str | None, limit: int) -> str | None:
    """Storable text of at most ``limit`` UTF-8 bytes (Redshift varchar lengths are bytes)."""
    value = storable(value, None)
    if value is None:
        return None
    data = value.encode("utf-8")
    if len(data) <= limit:
        return value
    cut = data[: limit - 40].decode("utf-8", "ignore")
    return cut + f"… [{len(data) - len(cut.encode())} more bytes]"


def is_text_type(contract_type: str) -> bool:
    return contract_type == "text" or contract_type.startswith(("varchar", "char"))


def normal_type(name: str) -> str:
    """A column type as the catalog (``format_type``) or a contract spells it, in one comparable form."""
    name = name.lower().replace("character varying", "varchar").replace("timestamp without time zone", "timestamp")
    name = name.replace("timestamp with time zone", "timestamptz").replace("character(", "char(")
    name = name.replace("double precision", "float8").replace(" ", "")
    return {"text": "varchar(65535)", "int4": "integer", "int2": "smallint", "int8": "bigint"}.get(name, name)
