"""Showing untrusted text (display names, URIs, reason phrases) safely.

Everything that came over the network is shown as plain text on one line:
Qt would otherwise render markup in labels and tool tips ("<b>x</b>" bold,
"<img src=...>" fetched), and CR/LF or bidi overrides could fake other lines
or reverse what the agent reads.
"""

from __future__ import annotations

import html
import re

# C0/C1 controls become spaces; bidi embedding/override/isolate marks go away.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BIDI = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MAX_CHARS = 200


def one_line(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` without controls or bidi marks, cut to ``limit`` characters."""
    flat = _BIDI.sub("", _CONTROLS.sub(" ", text)).strip()
    if len(flat) > limit:
        flat = flat[: limit - 1] + "\u2026"
    return flat


def plain_tooltip(text: str) -> str:
    """A tool tip that shows ``text`` literally.

    QToolTip guesses rich text with ``Qt::mightBeRichText`` and offers no
    plain-text switch, so the text is escaped inside an explicit ``<qt>``.
    """
    return f"<qt>{html.escape(text)}</qt>"


def party_text(name: str, uri: str) -> str:
    """``Name <sip:uri>`` or just the URI, flattened for display."""
    name, uri = one_line(name), one_line(uri)
    return f"{name} <{uri}>" if name else uri
