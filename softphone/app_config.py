"""From the loaded configuration (IT's provisioning + user settings + the
command line) to what the runtime starts with.

Precedence: an explicit command-line option (support staff, tests) beats IT's
provisioning, which beats the user's settings, which beat the defaults.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path

from softphone.config.passwords import PasswordStore
from softphone.config.schema import Account
from softphone.config.startup import LoadedConfig, codec_priorities
from softphone.core.directory import Directory
from softphone.sip.account_types import AccountSpec
from softphone.sip.config import AgentConfig, AudioConfig, EngineConfig

log = logging.getLogger("softphone")


@dataclass
class PlannedAccount:
    """An account to register at start.

    Attributes:
        account_id: the provisioned (or user's) stable id.
        spec: what to register.
        password_missing: no password stored (keyring or this session). The GUI
            holds the account back and asks for it; headless mode registers it
            anyway (a registrar without authentication takes it) and logs why
            the registrar will most likely refuse it.
    """

    account_id: str
    spec: AccountSpec
    password_missing: bool = False


@dataclass
class StartPlan:
    """Attributes:
    engine: engine settings.
    api_port: automation API port, None = off.
    accounts: accounts to register once the engine runs.
    directory: the agent directory.
    problems: sentences for the user (bad files, missing passwords...).
    """

    engine: EngineConfig
    api_port: int | None
    accounts: list[PlannedAccount] = field(default_factory=list)
    directory: Directory = field(default_factory=Directory)
    problems: list[str] = field(default_factory=list)


def plan_start(args: argparse.Namespace, loaded: LoadedConfig,
               passwords: PasswordStore | None = None) -> StartPlan:
    eff = loaded.effective
    s = eff.settings
    p = eff.provisioning
    # Without IT's say-so, a manually typed number is a normal supervised
    # target for a standalone softphone; IT turns it off in provisioning.
    external_allowed = (s.features.manual_external_transfer
                        if eff.is_locked("features.manual_external_transfer") else True)
    agent = AgentConfig(
        wrap_up_seconds=float(s.agent.wrap_up_seconds),
        wrap_up_returns_to=s.agent.wrap_up_returns_to,
        not_ready_reasons=list(s.agent.not_ready_reasons),
        max_queue_seconds=float(s.transfer.queued_max_hold_seconds),
        external_transfer_allowed=external_allowed,
        allowed_transfer_domains=[str(d) for d in p.security.allowed_transfer_domains],
        session_transfer=s.features.session_transfer,
        four_way_conference=s.features.four_way_conference,
    )
    if args.wrap_up_seconds is not None:
        agent.wrap_up_seconds = max(0.0, args.wrap_up_seconds)
    if args.max_queue_seconds is not None:
        agent.max_queue_seconds = max(1.0, args.max_queue_seconds)
    if args.four_way:
        agent.four_way_conference = True
    if args.consult_timeout is not None:
        agent.consult_timeout_s = max(1.0, args.consult_timeout)
    engine = EngineConfig(
        bind_address=args.sip_bind,
        sip_port=5060 if args.sip_port is None else args.sip_port,
        port_fallback=args.sip_port is None,
        local_user=args.sip_user,
        # PJSIP decides at start whether it produces SIP traces, and the GUI's
        # settings switch them on and off at run time: there it always produces
        # them and the log's filter (config.logsetup.set_sip_trace) lets them
        # through only while they are on (a few lines per SIP message, dropped
        # by a level check otherwise).
        sip_trace=args.sip_trace or s.logging.sip_trace or not args.headless,
        codec_priorities=codec_priorities([str(c) for c in s.codecs.priority]),
        codecs_exclusive=True,
        tls_required=p.security.tls_required,
        audio=AudioConfig(
            input_file=args.audio_in, output_file=args.audio_out,
            use_soundcard=not args.null_audio,
            capture_device=args.mic or s.audio.microphone or None,
            playback_device=args.speaker or s.audio.speaker or None,
            ringer_device=args.ringer or s.audio.ringer or None,
        ),
        agent=agent,
        tls_ca_file=args.tls_ca_file,
        tls_verify_server=not args.tls_no_verify,
    )
    if args.api_port is not None:
        api_port: int | None = args.api_port
    elif args.headless:
        api_port = 0
    else:
        api_port = s.automation.port if s.automation.enabled else None
    plan = StartPlan(engine=engine, api_port=api_port, directory=eff.directory,
                     problems=list(loaded.problems))
    store = passwords or loaded.passwords
    plan.accounts = plan_accounts(loaded, store)
    for planned in plan.accounts:
        if planned.password_missing:
            log.warning("%s", missing_password_message(planned, headless=args.headless))
    if store.problem:
        plan.problems.append(store.problem)
    return plan


def missing_password_message(planned: PlannedAccount, *, headless: bool) -> str:
    """What the log says about an account with no password stored."""
    head = f"account {planned.account_id!r} ({planned.spec.uri}): no password is stored"
    if not headless:
        return f"{head}; asking the agent for it (or set it in Settings > Accounts)"
    return (f"{head}: it registers without one and the registrar will most likely refuse it "
            f"(401). Store it with 'softphone password set {planned.account_id}' and restart, "
            "or give it for this session through the automation API's account.set_password.")


def plan_accounts(loaded: LoadedConfig, passwords: PasswordStore) -> list[PlannedAccount]:
    """The accounts (IT's and the user's) that register at start."""
    eff = loaded.effective
    return [_plan_account(a, eff.provisioning.security.srtp, passwords)
            for a in eff.accounts if a.registration]


def _plan_account(account: Account, srtp: str, passwords: PasswordStore) -> PlannedAccount:
    aor = str(account.aor)
    user = account.user or aor.split(":", 1)[-1].split("@")[0]
    password = passwords.get(account.id)
    registrar = str(account.server) if account.server else ""
    if registrar and not registrar.startswith(("sip:", "sips:")):
        registrar = f"sip:{registrar}"
    spec = AccountSpec(
        uri=aor, registrar=registrar, username=user, password=password or "",
        realm=account.realm or "*", transport=account.transport,
        proxy=str(account.proxy) if account.proxy else "", expires=account.expires,
        srtp=srtp, display_name=account.display_name,
        publish=account.presence == "publish",
    )
    return PlannedAccount(account.id, spec, password_missing=password is None)


def default_profile() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir("softphone", appauthor=False))
