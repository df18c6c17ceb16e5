"""Creating and destroying the one PJSIP endpoint of the process."""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from softphone import __version__
from softphone.core.errors import StartupError
from softphone.sip.config import EngineConfig
from softphone.sip.guard import guarded
from softphone.sip.logwriter import PjLogWriter

log = logging.getLogger("softphone.sip")


def pjsip_version() -> str:
    """PJSIP's version string, read without creating an endpoint."""
    return str(pj.__version__).split(".post")[0]


def pjsua_max_calls() -> int | None:
    """How many calls pjsua allows at once, read from the running library.

    pjsua silently clips ``UaConfig.maxCalls`` to the ``PJSUA_MAX_CALLS`` it
    was compiled with (4 in the pjsua2-python 2.15.1 wheel) and pjsua2 has no
    getter: ask pjsua's C API, ``pjsua_call_get_max_count()``, directly. None
    when this build does not export it.
    """
    try:
        from pjsua2 import _pjsua2

        fn = ctypes.CDLL(_pjsua2.__file__).pjsua_call_get_max_count
    except (ImportError, OSError, AttributeError):
        return None
    fn.restype = ctypes.c_uint
    fn.argtypes = []
    return int(fn())


class _PjEndpoint(pj.Endpoint):  # type: ignore[misc]
    """The pjsua2 endpoint with its one callback we need."""

    def __init__(self) -> None:
        super().__init__()
        self.on_transport_lost: Callable[[], None] = lambda: None

    @guarded
    def onTransportState(self, prm: pj.OnTransportStateParam) -> None:
        if prm.state == pj.PJSIP_TP_STATE_DISCONNECTED:
            self.on_transport_lost()


class Endpoint:
    """Owns ``pj.Endpoint`` and its transports.

    Attributes:
        ep: the pjsua2 endpoint.
        udp_id / tcp_id / tls_id: transport ids (tls created on demand).
        sip_port: the UDP/TCP port actually bound.
        max_calls: the simultaneous calls pjsua actually allows (may be fewer
            than configured: see :func:`pjsua_max_calls`).
    """

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        # Any: set to None after libDestroy so pjsua2 can create another one.
        self.ep: Any = _PjEndpoint()
        self._log_writer = PjLogWriter()
        self.udp_id: int | None = None
        self.tcp_id: int | None = None
        self.tls_id: int | None = None
        self.sip_port = 0
        self.max_calls = config.max_calls
        self._created = False

    def start(self) -> None:
        cfg = self.config
        self.ep.libCreate()
        self._created = True
        ep_cfg = pj.EpConfig()
        ua = ep_cfg.uaConfig
        ua.threadCnt = 0
        ua.mainThreadOnly = True
        ua.maxCalls = cfg.max_calls
        ua.userAgent = f"softphone/{__version__} PJSIP/{self.ep.libVersion().full}"
        med = ep_cfg.medConfig
        med.noVad = True
        med.clockRate = 16000
        med.sndClockRate = 16000
        med.channelCount = 1
        med.audioFramePtime = 20
        med.ecTailLen = 0
        med.threadCnt = 1
        lc = ep_cfg.logConfig
        lc.writer = self._log_writer
        lc.level = 5 if cfg.sip_trace else cfg.pjsip_log_level
        # pjsua hands the writer only what is at or below consoleLevel.
        lc.consoleLevel = lc.level
        lc.msgLogging = bool(cfg.sip_trace)
        lc.decor = pj.PJ_LOG_HAS_SENDER | pj.PJ_LOG_HAS_INDENT
        self.ep.libInit(ep_cfg)
        self.max_calls = pjsua_max_calls() or cfg.max_calls
        if self.max_calls < cfg.max_calls:
            log.warning("this PJSIP build allows %d simultaneous calls, not the %d configured",
                        self.max_calls, cfg.max_calls)
        self._create_transports()
        self.ep.libStart()
        # The null device is the conference bridge's master clock; the sound
        # card (if any) is bridged in as an ordinary port.
        self.ep.audDevManager().setNullDev()
        self._let_the_idle_clock_stop()
        self._set_codec_priorities()

    def _let_the_idle_clock_stop(self) -> None:
        # pjsua closes an unused sound device sndAutoCloseTime (1 s) after its
        # last connection goes and reopens it with the next one (a call, a
        # ringer, a recorder), but only checks on a disconnection: without one
        # the null device's clock thread wakes 50 times a second from start-up
        # until the first call ends. A connection made and dropped at once
        # starts that check.
        manager = self.ep.audDevManager()
        try:
            device = manager.getCaptureDevMedia()
            device.startTransmit(manager.getPlaybackDevMedia())
            device.stopTransmit(manager.getPlaybackDevMedia())
        except pj.Error as exc:
            log.debug("the idle audio clock keeps running: %s", exc.info())

    def _create_transports(self) -> None:
        cfg = self.config
        picked_freely = cfg.sip_port == 0
        try:
            self.udp_id, self.sip_port = self._bind(pj.PJSIP_TRANSPORT_UDP, cfg.sip_port)
        except pj.Error as exc:
            if cfg.sip_port and cfg.port_fallback:
                log.warning("SIP port %s on %s is in use; using a free port", cfg.sip_port,
                            cfg.bind_address)
                self.udp_id, self.sip_port = self._bind_free_udp(f"port {cfg.sip_port} is in use")
                picked_freely = True
            else:
                raise StartupError(_bind_error("UDP", cfg.bind_address, cfg.sip_port, exc)) from exc
        # A port the kernel picked for UDP comes from the ephemeral range, where
        # the same TCP port may be held by any process's outgoing connection:
        # then pick again rather than fail to start. The default port falls
        # back the same way when only its TCP side is taken.
        attempts = _FREE_PORT_ATTEMPTS if picked_freely or cfg.port_fallback else 1
        for attempt in range(1, attempts + 1):
            try:
                self.tcp_id, _ = self._bind(pj.PJSIP_TRANSPORT_TCP, self.sip_port)
                return
            except pj.Error as exc:
                if attempt == attempts and picked_freely:
                    raise StartupError(
                        f"no free SIP port on {cfg.bind_address}: the TCP side of each of "
                        f"{attempts} ports tried was in use") from exc
                if attempt == attempts:
                    raise StartupError(_bind_error("TCP", cfg.bind_address, self.sip_port,
                                                   exc)) from exc
                log.log(logging.DEBUG if picked_freely else logging.WARNING,
                        "SIP TCP port %s on %s is in use; using a free port", self.sip_port,
                        cfg.bind_address)
                picked_freely = True
                self.ep.transportClose(self.udp_id)
                self.udp_id, self.sip_port = self._bind_free_udp(
                    f"TCP port {self.sip_port} is in use")

    def _bind_free_udp(self, why: str) -> tuple[int, int]:
        """Any free UDP port, after ``why`` (the port wanted could not be used)."""
        try:
            return self._bind(pj.PJSIP_TRANSPORT_UDP, 0)
        except pj.Error as exc:
            raise StartupError(f"no free SIP port on {self.config.bind_address}: {why} and no "
                               f"other port could be opened ({exc.reason})") from exc

    def _bind(self, kind: int, port: int) -> tuple[int, int]:
        tc = pj.TransportConfig()
        tc.port = port
        tc.boundAddress = self.config.bind_address
        tid = self.ep.transportCreate(kind, tc)
        local = self.ep.transportGetInfo(tid).localName
        return tid, int(str(local).rsplit(":", 1)[1])

    def ensure_tls(self) -> int:
        """Create the client TLS transport the first time an account needs it."""
        if self.tls_id is not None:
            return self.tls_id
        tc = pj.TransportConfig()
        tc.port = 0
        tc.boundAddress = self.config.bind_address
        tls = tc.tlsConfig
        tls.method = pj.PJSIP_TLSV1_2_METHOD
        if self.config.tls_ca_file:
            tls.CaListFile = str(self.config.tls_ca_file)
        tls.verifyServer = self.config.tls_verify_server
        try:
            self.tls_id = self.ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tc)
        except pj.Error as exc:
            raise StartupError(f"could not create the TLS transport: {exc.reason}") from exc
        return self.tls_id

    def _set_codec_priorities(self) -> None:
        available = [str(c.codecId) for c in self.ep.codecEnum2()]
        if self.config.codecs_exclusive:
            for codec in available:
                self.ep.codecSetPriority(codec, 0)
        for codec, prio in self.config.codec_priorities.items():
            # "G722/16000" names "G722/16000/1": match ids by prefix, as PJSIP does.
            matches = [a for a in available if a.lower().startswith(codec.lower())]
            if not matches:
                log.warning("codec %s is not in this PJSIP build", codec)
            for match in matches:
                self.ep.codecSetPriority(match, prio)

    def codecs(self) -> list[tuple[str, int]]:
        return [(str(c.codecId), int(c.priority)) for c in self.ep.codecEnum2()]

    def handle_events(self) -> int:
        return int(self.ep.libHandleEvents(0))

    def destroy(self, *, network: bool) -> None:
        if not self._created:
            return
        self._created = False
        self.ep.libDestroy(0 if network else pj.PJSUA_DESTROY_NO_NETWORK)
        # pjsua2 allows a new Endpoint only once this object is gone (its
        # destructor clears the one-per-process instance).
        self.ep = None


# How often a freely picked port is retried when its TCP twin is taken.
_FREE_PORT_ATTEMPTS = 20


def _bind_error(kind: str, address: str, port: int, exc: pj.Error) -> str:
    reason = str(exc.reason)
    if not port:
        return f"no free SIP {kind} port on {address}: {reason}"
    if "in use" in reason.lower() or "98" in reason:
        return f"SIP {kind} port {port} on {address} is already in use"
    return f"could not open SIP {kind} port {port} on {address}: {reason}"
