"""Messages that leave the warehouse (notifications, webhooks) carry no source values of personal
columns (issue 15, item 5): a message that names a personal column loses every quoted value, and
credential-bearing URIs lose their password."""

from __future__ import annotations

import re
from typing import Any

PERSONAL_COLUMNS = ("buyer_name", "seller_name")
_QUOTED = re.compile(r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
_URI_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@", re.IGNORECASE)


def redact_text(text: str) -> str:
    text = _URI_PASSWORD.sub(r"\1***@", text)
    if any(column in text.lower() for column in PERSONAL_COLUMNS):
        return _QUOTED.sub(_redact_quoted, text)
    return text


def _redact_quoted(match: re.Match) -> str:
    """A quoted column name (``"buyer_name"``) stays; any other quoted value goes."""
    inner = match.group(0)[1:-1]
    return match.group(0) if re.fullmatch(r"[a-z_][a-z0-9_.]*", inner) else "«redacted»"


def redact_payload(value: Any) -> Any:
    """``value`` with :func:`redact_text` applied to every string inside it."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_payload(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_payload(item) for item in value]
    return value
