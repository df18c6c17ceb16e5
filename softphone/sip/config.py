"""What the engine needs to start; filled from the command line or settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Chosen on purpose: wideband G722 first, then the G.711 pair every PBX speaks.
# speex/16000 is PJSIP's default first choice and distorted test tones badly.
DEFAULT_CODEC_PRIORITIES: dict[str, int] = {
    "G722/16000/1": 250,
    "PCMU/8000/1": 240,
    "PCMA/8000/1": 230,
    "GSM/8000/1": 120,
    "iLBC/8000/1": 110,
    "speex/16000/1": 100,
    "speex/8000/1": 99,
    "speex/32000/1": 98,
    # L16 at 44.1 kHz costs ~1.4 Mbit/s per call; never offer it.
    "L16/44100/1": 0,
    "L16/44100/2": 0,
}


@dataclass
class AudioConfig:
    """Where audio comes from and goes to.

    Attributes:
        input_file: a WAV played (looped) as the microphone instead of a device.
        output_file: a WAV recording what the agent hears (16-bit PCM).
        use_soundcard: try PortAudio devices; False forces the null device.
        capture_device: microphone name (substring match), None for the default.
        playback_device: speaker/headset name, None for the default.
        ringer_device: where the ringtone plays, None for the playback device.
    """

    input_file: Path | None = None
    output_file: Path | None = None
    use_soundcard: bool = True
    capture_device: str | None = None
    playback_device: str | None = None
    ringer_device: str | None = None


@dataclass
class AgentConfig:
    """Contact-center behaviour (normally from IT's provisioning).

    Attributes:
        wrap_up_seconds: After Call Work length; 0 skips it.
        wrap_up_returns_to: ``available`` or ``previous``.
        not_ready_reasons: allowed Not Ready reason codes (empty: any text).
        max_queue_seconds: how long a transferred call may wait for this agent.
        external_transfer_allowed: manually entered numbers may be transfer targets.
        allowed_transfer_domains: if set, transfers (sent and accepted) stay in these.
        consult_timeout_s: a consult call not answered by then has failed.
        header_prefix: prefix of the screen pop's X- headers.
        session_transfer: IT's Session Transfer switch; off refuses transfers.
        four_way_conference: a fourth party may be added during a supervised transfer.
    """

    wrap_up_seconds: float = 0.0
    wrap_up_returns_to: str = "available"
    not_ready_reasons: list[str] = field(default_factory=lambda: ["Break", "Lunch", "Training"])
    max_queue_seconds: float = 120.0
    external_transfer_allowed: bool = True
    allowed_transfer_domains: list[str] = field(default_factory=list)
    consult_timeout_s: float = 30.0
    header_prefix: str = "X-Pop-"
    session_transfer: bool = True
    four_way_conference: bool = False


@dataclass
class EngineConfig:
    """Start-up settings of :class:`softphone.sip.engine.SipEngine`.

    Attributes:
        bind_address: local address of the SIP transports and RTP.
        sip_port: UDP/TCP listening port; 0 picks a free one.
        port_fallback: when ``sip_port`` is taken, use a free port instead of failing
            (for the default port only; an explicitly chosen port must fail loudly).
        local_user: user part of the always-present local (serverless) account.
        max_calls: simultaneous calls PJSIP allows.
        auto_hold: answering or placing a call puts the agent's other calls on hold,
            so no one hears a conversation they are not in.
        sip_trace: log every SIP message (credentials redacted).
        pjsip_log_level: PJSIP's own verbosity (0-6) routed into Python logging.
        codec_priorities: codec id (or id prefix) -> priority (0 disables).
        codecs_exclusive: codecs not in ``codec_priorities`` are disabled.
        tls_required: accounts must use the TLS transport (IT policy).
    """

    bind_address: str = "127.0.0.1"
    sip_port: int = 5060
    port_fallback: bool = False
    local_user: str = "agent"
    max_calls: int = 16
    auto_hold: bool = True
    sip_trace: bool = False
    pjsip_log_level: int = 3
    codec_priorities: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CODEC_PRIORITIES))
    codecs_exclusive: bool = False
    tls_required: bool = False
    audio: AudioConfig = field(default_factory=AudioConfig)
    agent: AgentConfig = field(default_factory=lambda: AgentConfig())
    tls_ca_file: Path | None = None
    tls_verify_server: bool = True
