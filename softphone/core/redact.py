"""Credentials out of log text: Authorization headers, passwords, URL credentials.

Pure Python so that every layer (the SIP log writer, the log file handler)
uses the same filter.
"""

from __future__ import annotations

import re

# Header lines anywhere in a multi-line SIP trace, and inline after a log prefix.
_AUTH_RE = re.compile(r"(\b(?:Proxy-)?Authorization\s*:)[^\r\n]*", re.IGNORECASE)
_PASSWORD_RE = re.compile(
    r"((?:password|passwd|pwd|secret|token)[\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&]+)",
    re.IGNORECASE)
_URL_CREDENTIALS_RE = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^@\s/]+@", re.IGNORECASE)
REDACTED = "<redacted>"


def redact(text: str) -> str:
    """Remove Authorization headers, password values and URL credentials from text."""
    text = _AUTH_RE.sub(rf"\1 {REDACTED}", text)
    text = _PASSWORD_RE.sub(rf"\1{REDACTED}", text)
    return _URL_CREDENTIALS_RE.sub(rf"\1{REDACTED}@", text)
