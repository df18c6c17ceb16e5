"""Who hears whom: the links of PJSIP's conference bridge.

Every hold, unhold or re-INVITE recreates a call's stream on a new bridge slot
and drops all of its links, so nothing here caches slots: :meth:`rebuild`
recomputes every link from the calls' current state and is run on each media
or state change.

The agent's "microphone" is one source slot (a sound card port, a WAV player,
or the null device) and what the agent hears goes to one or more sink slots
(the sound card, a recorder).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

import pjsua2 as pj

log = logging.getLogger("softphone.sip.media")


class RoutedCall(Protocol):
    """What the router needs to know about a call."""

    @property
    def call_id(self) -> str: ...
    def audio_media(self) -> pj.AudioMedia | None: ...
    def hears(self) -> bool: ...
    def speaks(self) -> bool: ...


def link(src: pj.AudioMedia, dst: pj.AudioMedia, on: bool) -> None:
    """Connect or disconnect one bridge link; both are idempotent here."""
    try:
        if on:
            src.startTransmit(dst)
        else:
            src.stopTransmit(dst)
    except pj.Error:
        # Disconnecting a link that does not exist is reported as an error by
        # the bridge; it is exactly the state we want.
        if on:
            log.exception("could not connect audio")


class AudioRouter:
    """Holds the agent's audio source and sinks and applies the link rules.

    Attributes:
        source: the agent's microphone slot, or None (nothing is sent).
        sinks: slots that receive what the agent hears.
    """

    def __init__(self) -> None:
        self.source: pj.AudioMedia | None = None
        self.sinks: list[pj.AudioMedia] = []

    def rebuild(self, calls: Iterable[RoutedCall], mixes: Iterable[set[str]] = (),
                agent_absent: set[str] | None = None) -> None:
        """Apply the link rules.

        ``mixes``: groups of call ids whose far ends hear each other (a local
        conference: a full mesh between every pair, mixed in C by the bridge).
        ``agent_absent``: calls the agent has left (still mixed, not heard).
        """
        absent = agent_absent or set()
        medias: dict[str, pj.AudioMedia] = {}
        for call in calls:
            media = call.audio_media()
            if media is None:
                continue
            medias[call.call_id] = media
            present = call.call_id not in absent
            for sink in self.sinks:
                link(media, sink, call.hears() and present)
            if self.source is not None:
                link(self.source, media, call.speaks() and present)
        mixed = {(a, b) for group in mixes for a in group for b in group if a != b}
        for a, media_a in medias.items():
            for b, media_b in medias.items():
                if a != b:
                    link(media_a, media_b, (a, b) in mixed)

    def detach_sink(self, sink: pj.AudioMedia, calls: Iterable[RoutedCall]) -> None:
        for call in calls:
            media = call.audio_media()
            if media is not None:
                link(media, sink, False)
        self.sinks = [s for s in self.sinks if s is not sink]
