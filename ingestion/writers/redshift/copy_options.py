"""How a contract maps to Redshift COPY options, and which contract features COPY cannot express
exactly (those files are normalised first)."""

from __future__ import annotations

import codecs

from ingestion.contract import Contract
from ingestion.writers.redshift.sql import sql_literal

MAX_ERRORS = 100_000  # Redshift's ceiling for MAXERROR; more bad rows fail the COPY (→ refused)

# strptime directive → Redshift DATEFORMAT/TIMEFORMAT datepart (docs: "DATEFORMAT and TIMEFORMAT strings")
_DATEPARTS = {
    "%Y": "YYYY", "%y": "YY", "%m": "MM", "%d": "DD", "%b": "MON", "%B": "MON",
    "%H": "HH24", "%I": "HH12", "%M": "MI", "%S": "SS", "%p": "AM",
}
_DATE_SEPARATORS = frozenset("-/:. ,")
_ENCODINGS = {"utf-8": "UTF8", "utf-8-sig": "UTF8", "utf-16": "UTF16", "utf-16-le": "UTF16LE", "utf-16-be": "UTF16BE"}


def redshift_datetime_format(python_format: str) -> str | None:
    """``%m/%d/%Y`` → ``MM/DD/YYYY``; None when a directive or literal has no Redshift equivalent."""
    out, i = [], 0
    while i < len(python_format):
        ch = python_format[i]
        if ch == "%":
            part = _DATEPARTS.get(python_format[i : i + 2])
            if part is None:
                return None
            out.append(part)
            i += 2
        elif ch in _DATE_SEPARATORS:
            out.append(ch)
            i += 1
        else:
            return None
    return "".join(out)


def redshift_encoding(contract: Contract) -> str | None:
    return _ENCODINGS.get(codecs.lookup(contract.format.encoding).name)


def temporal_formats(contract: Contract) -> tuple[dict[str, set[str]], list[str]]:
    """DATEFORMAT / TIMEFORMAT candidates per COPY option, and the reasons a direct COPY is impossible."""
    wanted: dict[str, set[str]] = {"DATEFORMAT": set(), "TIMEFORMAT": set()}
    reasons = []
    for col in contract.columns:
        if not col.is_temporal:
            continue
        option = "DATEFORMAT" if col.type == "date" else "TIMEFORMAT"
        if col.date_format is None:
            wanted[option].add("auto")
            continue
        mapped = redshift_datetime_format(col.date_format)
        if mapped is None or col.type == "timestamptz":
            reasons.append(f"column {col.name}: date_format {col.date_format!r} has no Redshift {option} equivalent")
        else:
            wanted[option].add(mapped)
    for option, formats in wanted.items():
        if len(formats) > 1:
            reasons.append(f"columns need different {option}s ({', '.join(sorted(formats))}); COPY takes one")
    return wanted, reasons


def contract_normalization_reasons(contract: Contract) -> list[str]:
    """Contract features a direct COPY cannot express exactly (empty: COPY-able, file permitting)."""
    fmt = contract.format
    reasons = []
    if fmt.type == "parquet":
        reasons.append(
            "format parquet (COPY maps Parquet columns by position and has no MAXERROR: one bad row would "
            "fail the whole file instead of being rejected)"
        )
    if fmt.unpivot:
        reasons.append("format.unpivot (wide columns to rows)")
    if fmt.thousands_separator and any(c.is_numeric for c in contract.columns):
        reasons.append(f"format.thousands_separator {fmt.thousands_separator!r} in numeric columns")
    extra_nulls = [t for t in fmt.null_tokens if t != ""]
    if len(extra_nulls) > 1 or (extra_nulls and fmt.type != "csv"):
        reasons.append(f"null tokens {extra_nulls} (COPY has one NULL AS, and none for JSON)")
    if fmt.skip_blank_rows:
        reasons.append("format.skip_blank_rows (COPY would load or reject all-empty rows)")
    if redshift_encoding(contract) is None:
        reasons.append(f"format.encoding {fmt.encoding!r} (COPY reads UTF-8 and UTF-16 only)")
    if fmt.type == "csv":
        for name, char in (("delimiter", fmt.delimiter), ("quote", fmt.quote)):
            if not (32 <= ord(char) < 127 or char == "\t") or char == "\\":
                reasons.append(f"format.{name} {char!r} (COPY takes a printable ASCII character)")
        if not fmt.header:
            positions = [c.position for c in contract.columns]
            if positions != list(range(1, len(positions) + 1)):
                reasons.append("header-less column positions are not 1..n in order (COPY cannot skip fields)")
    if fmt.type == "jsonl":
        renamed = [c.name for c in contract.columns if c.aliases or c.source_name.lower() != c.name]
        if renamed:
            reasons.append(f"jsonl columns {renamed} have sources or aliases other than their names")
    reasons.extend(temporal_formats(contract)[1])
    if contract.load.mode == "merge":
        reasons.append(
            "load.mode merge (the latest change within a file must win, which needs each row's source line; "
            "COPY cannot report it)"
        )
    return reasons



def copy_options(contract: Contract, *, gzip_file: bool, ignore_header: int, normalized: bool) -> list[str]:
    fmt = contract.format
    opts = []
    if normalized or fmt.type == "csv":
        delimiter, quote = (",", '"') if normalized else (fmt.delimiter, fmt.quote)
        opts.append(f"FORMAT AS CSV QUOTE AS {sql_literal(quote)}")
        opts.append("DELIMITER " + ("'\\t'" if delimiter == "\t" else sql_literal(delimiter)))
        if ignore_header:
            opts.append(f"IGNOREHEADER {int(ignore_header)}")
    else:
        opts.append("FORMAT AS JSON 'auto ignorecase'")
    if gzip_file:
        opts.append("GZIP")
    opts.append(f"ENCODING {'UTF8' if normalized else redshift_encoding(contract)}")
    opts.append("EMPTYASNULL")
    if any(c.type.startswith("numeric") for c in contract.columns):
        opts.append("ROUNDEC")  # PostgreSQL rounds extra decimals into numeric(p,s); COPY would truncate
    extra_nulls = [t for t in fmt.null_tokens if t != ""]
    if extra_nulls and not normalized:
        opts.append(f"NULL AS {sql_literal(extra_nulls[0])}")
    if normalized:
        # formatted dates were rewritten as ISO dates; timestamps (some with a zone) are read with 'auto'
        dates = [c for c in contract.columns if c.type == "date"]
        wanted = {}
        if dates:
            wanted["DATEFORMAT"] = "YYYY-MM-DD" if all(c.date_format for c in dates) else "auto"
        if any(c.type in ("timestamp", "timestamptz") for c in contract.columns):
            wanted["TIMEFORMAT"] = "auto"
    else:
        wanted = {k: v.pop() for k, v in temporal_formats(contract)[0].items() if v}
    for option in ("DATEFORMAT", "TIMEFORMAT"):
        if option in wanted:
            opts.append(f"{option} {sql_literal(wanted[option])}")
    opts.append(f"MAXERROR {MAX_ERRORS}")
    opts.append("COMPUPDATE OFF STATUPDATE OFF")
    return opts

