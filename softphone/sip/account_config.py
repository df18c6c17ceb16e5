"""pjsua account configurations built from an ``AccountSpec``: registrar,
credentials, proxy, media (RTP ports, SRTP, 100rel) and presence publishing."""

from __future__ import annotations

import pjsua2 as pj

from softphone.core.errors import InvalidParamsError
from softphone.core.sip_uri import SipUri, parse_sip_uri
from softphone.sip.account_types import AccountSpec

RTP_PORT_LOW = 10000
RTP_PORT_HIGH = 19990  # a start leaves room for the walk up on collisions

TRANSPORTS = ("udp", "tcp", "tls")
# pjsua matches requests to accounts in priority order (the local account has 0).
REGISTERED_ACCOUNT_PRIORITY = 10


def account_config(spec: AccountSpec, *, bind_address: str, rtp_port: int
                   ) -> tuple[pj.AccountConfig, str, SipUri]:
    """pjsua's configuration for ``spec``: (config, registrar URI, address of record).

    ``rtp_port``: where this process's RTP ports start (see ``media_config``).
    The caller makes sure a TLS transport exists for a TLS account.
    """
    aor = parse_sip_uri(spec.uri)
    registrar = spec.registrar or f"sip:{aor.host}" + (f":{aor.port}" if aor.port else "")
    reg_uri = parse_sip_uri(registrar)
    if spec.transport != "udp" and reg_uri.transport is None:
        registrar = f"{reg_uri};transport={spec.transport}"
    cfg = pj.AccountConfig()
    cfg.idUri = (f'"{spec.display_name}" <{aor}>' if spec.display_name else str(aor))
    rc = cfg.regConfig
    rc.registrarUri = registrar
    rc.registerOnAdd = True
    rc.timeoutSec = spec.expires
    rc.retryIntervalSec = 0  # our own backoff (softphone.sip.accounts)
    rc.dropCallsOnFail = False  # a registrar outage must not cut live calls
    if spec.username or spec.password:
        cfg.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", spec.realm or "*", spec.username or (aor.user or ""),
                            0, spec.password)
        )
    if spec.proxy:
        cfg.sipConfig.proxies.append(str(parse_sip_uri(spec.proxy)))
    media_config(cfg, spec.srtp, bind_address=bind_address, rtp_port=rtp_port)
    # With a presence server our state goes there by PUBLISH (sent through
    # the outbound proxy like every request of the account).
    cfg.presConfig.publishEnabled = spec.publish
    # pjsua picks the account of a request it starts itself (presence
    # SUBSCRIBEs, pjsua_acc_find_for_outgoing) by the target's host, and the
    # local account's host is this machine's address: where the registrar
    # shares it (a PBX on the same host, the test lab) the registered
    # account must come first.
    cfg.priority = REGISTERED_ACCOUNT_PRIORITY
    return cfg, registrar, aor


def media_config(cfg: pj.AccountConfig, srtp: str, *, bind_address: str, rtp_port: int) -> None:
    """The media part of ``cfg``: bound address, RTP ports, SRTP, 100rel."""
    cfg.mediaConfig.transportConfig.boundAddress = bind_address
    # pjsua starts every process at RTP port 4000 and walks up on collisions;
    # a random even start spreads softphones sharing a machine (and a
    # terminal server) without a failed bind each.
    cfg.mediaConfig.transportConfig.port = rtp_port
    cfg.mediaConfig.srtpUse = {
        "off": pj.PJMEDIA_SRTP_DISABLED,
        "optional": pj.PJMEDIA_SRTP_OPTIONAL,
        "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
    }[srtp]
    cfg.mediaConfig.srtpSecureSignaling = 0
    cfg.natConfig.iceEnabled = False
    # Reliable provisional responses when the peer supports them: a 182
    # Queued sent once over UDP can be lost.
    cfg.callConfig.prackUse = pj.PJSUA_100REL_OPTIONAL


def validate(spec: AccountSpec) -> None:
    """Refuse a spec pjsua would choke on, with a clear error."""
    parse_sip_uri(spec.uri)
    if spec.registrar:
        parse_sip_uri(spec.registrar)
    if spec.transport not in TRANSPORTS:
        raise InvalidParamsError(f"transport must be one of {', '.join(TRANSPORTS)}")
    if spec.srtp not in ("off", "optional", "mandatory"):
        raise InvalidParamsError("srtp must be off, optional or mandatory")
    if not 60 <= spec.expires <= 86400:
        raise InvalidParamsError("expires must be between 60 and 86400 seconds")
    for text in (spec.username, spec.password, spec.realm, spec.display_name):
        if any(ch in text for ch in "\r\n\x00"):
            raise InvalidParamsError("credentials must not contain control characters")
