"""Checks on manually entered numbers, and the CRM screen-pop URL."""

from __future__ import annotations

import re
import string
import urllib.parse
from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple

from softphone.config.schema import DialPlan
from softphone.core.errors import InvalidParamsError

# What people type between digits: spaces, dashes, dots, brackets, slashes.
_SEPARATORS_RE = re.compile(r"[\s\-./()\u00a0]")
_NUMBER_CHARS_RE = re.compile(r"^\+?[0-9*#]+$")
MAX_NUMBER = 32


class NumberCheck(NamedTuple):
    """The verdict on a typed number.

    Attributes:
        ok: the number may be dialled.
        normalised: separators removed, the international prefix turned into ``+``.
        reason: why it was refused ("" when ok), naming the allowed patterns.
    """

    ok: bool
    normalised: str
    reason: str


def check_number(text: str, plan: DialPlan | None = None) -> NumberCheck:
    """Normalise and check a manually entered number against the dial plan."""
    plan = plan or DialPlan()
    number = _SEPARATORS_RE.sub("", text or "")
    if not number:
        return NumberCheck(False, "", "enter a number")
    if len(number) > MAX_NUMBER:
        return NumberCheck(False, number[:MAX_NUMBER], f"longer than {MAX_NUMBER} digits")
    if not _NUMBER_CHARS_RE.match(number):
        return NumberCheck(False, number, "only digits, a leading + and * # are allowed")
    prefix = plan.international_prefix
    if prefix and number.startswith(prefix) and not number.startswith("+"):
        number = "+" + number[len(prefix):]
    for pattern in plan.patterns:
        if _compiled(pattern.regex).fullmatch(number):
            return NumberCheck(True, number, "")
    names = ", ".join(p.name for p in plan.patterns) or "none"
    return NumberCheck(False, number, f"not an allowed number (allowed: {names})")


@lru_cache(maxsize=64)
def _compiled(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def fill_crm_url(template: str, fields: Mapping[str, str]) -> str:
    """Fill ``{placeholders}`` with percent-encoded call fields (missing ones empty).

    Raises :class:`InvalidParamsError` for a template that is not http(s) or
    whose placeholders are malformed; the result cannot change scheme, host or
    path structure because every value is encoded with no safe characters.
    """
    scheme = urllib.parse.urlsplit(template).scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidParamsError(f"the CRM URL must be http or https, not {scheme or 'none'!r}")
    out: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidParamsError(f"bad CRM URL template: {exc}") from None
    for literal, name, spec, conversion in parsed:
        out.append(literal)
        if name is None:
            continue
        if spec or conversion or not re.fullmatch(r"[a-z0-9_]{1,32}", name):
            raise InvalidParamsError(f"bad CRM URL placeholder {{{name}}}")
        out.append(urllib.parse.quote(str(fields.get(name, "")), safe=""))
    return "".join(out)
