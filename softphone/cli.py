"""The ``softphone`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from softphone import APP_NAME, __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=APP_NAME,
        description="A SIP softphone for contact-center agents.",
        epilog="Subcommands: 'softphone provisioning check FILE|URL' validates IT's "
               "provisioning; 'softphone password set|delete ACCOUNT_ID' manages the keyring.",
    )
    parser.add_argument("--version", action="store_true", help="print versions and exit")
    parser.add_argument("--headless", action="store_true",
                        help="run without widgets, driven by the automation API")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="directory for api.json and per-instance state")
    parser.add_argument("--api-port", type=int, metavar="N",
                        help="serve the automation API on 127.0.0.1:N (0 = any free port); "
                             "on by default in headless mode")
    sip = parser.add_argument_group("SIP")
    sip.add_argument("--sip-bind", default="127.0.0.1", metavar="ADDR",
                     help="local address for SIP and RTP (default 127.0.0.1)")
    sip.add_argument("--sip-port", type=int, metavar="N",
                     help="local SIP port, UDP and TCP (0 = any free port; default 5060, "
                          "or a free port when 5060 is taken)")
    sip.add_argument("--sip-user", default="agent", metavar="NAME",
                     help="user part of the local account's URI (default agent)")
    sip.add_argument("--sip-trace", action="store_true", help="log every SIP message")
    sip.add_argument("--tls-ca-file", type=Path, metavar="FILE",
                     help="PEM file of CA certificates trusted for TLS registrars and proxies")
    sip.add_argument("--tls-no-verify", action="store_true",
                     help="do not verify the TLS server's certificate (testing only)")
    audio = parser.add_argument_group("audio")
    audio.add_argument("--audio-in", type=Path, metavar="FILE.wav",
                       help="play this WAV (looped) as the microphone")
    audio.add_argument("--audio-out", type=Path, metavar="FILE.wav",
                       help="record what the agent hears into this WAV")
    audio.add_argument("--null-audio", action="store_true",
                       help="use no sound device at all")
    audio.add_argument("--mic", metavar="NAME", help="microphone device name")
    audio.add_argument("--speaker", metavar="NAME", help="speaker/headset device name")
    audio.add_argument("--ringer", metavar="NAME", help="device the ringtone plays on")
    audio.add_argument("--list-audio-devices", action="store_true",
                       help="list sound devices and exit")
    agent = parser.add_argument_group("agent (normally set by IT's provisioning)")
    agent.add_argument("--wrap-up-seconds", type=float, metavar="S",
                       help="After Call Work length (0 = none)")
    agent.add_argument("--max-queue-seconds", type=float, metavar="S",
                       help="how long a transferred call may wait for this agent to be Available")
    agent.add_argument("--consult-timeout", type=float, metavar="S",
                       help="a consult call not answered by then has failed")
    agent.add_argument("--four-way", action="store_true",
                       help="allow a fourth party during supervised transfers")
    parser.add_argument("--self-test", action="store_true",
                        help="check that the installation works, print a report and exit")
    parser.add_argument("--provisioning", metavar="PATH|URL",
                        help="IT's provisioning file or HTTPS URL (overrides the system one)")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["provisioning"]:
        from softphone.config.cli import provisioning_main

        return provisioning_main(argv[1:])
    if argv[:1] == ["password"]:
        return _password_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.version:
        from softphone.sip.endpoint import pjsip_version

        print(f"{APP_NAME} {__version__} (PJSIP {pjsip_version()})")
        return 0
    if args.self_test:
        from softphone.selftest import run_self_test

        return run_self_test()
    if args.list_audio_devices:
        from softphone.sip.audio.devices import list_devices

        devices = list_devices()
        if not devices:
            print("no sound devices found (calls will use the null audio device)")
        for dev in devices:
            kinds = ", ".join(
                k for k, n in (("in", dev.max_input_channels), ("out", dev.max_output_channels))
                if n
            )
            print(f"{dev.index:3d}  {dev.name}  [{dev.host_api}; {kinds}]")
        return 0
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    from softphone.app_config import default_profile, plan_start
    from softphone.config.logsetup import setup_file_logging
    from softphone.config.startup import load_configuration
    from softphone.core.errors import StartupError
    from softphone.logs import setup_logging
    from softphone.runtime import RuntimeOptions

    setup_logging(args.log_level)
    for option, path in (("--audio-in", args.audio_in), ("--tls-ca-file", args.tls_ca_file)):
        if path is not None and not path.is_file():
            print(f"{APP_NAME}: {option}: no such file: {path}", file=sys.stderr)
            return 2
    # An explicit --profile is an isolated instance: its settings, cache and
    # logs live there, not in the user's own directories.
    loaded = load_configuration(args.profile, args.provisioning)
    settings = loaded.effective.settings
    try:
        setup_file_logging(loaded.log_dir, level=settings.logging.level,
                           sip_trace=args.sip_trace or settings.logging.sip_trace)
    except OSError as exc:
        print(f"{APP_NAME}: cannot write logs to {loaded.log_dir}: {exc}", file=sys.stderr)
    plan = plan_start(args, loaded)
    options = RuntimeOptions(profile=args.profile or default_profile(), api_port=plan.api_port,
                             engine=plan.engine, accounts=plan.accounts,
                             directory=plan.directory, problems=plan.problems)
    try:
        if args.headless:
            from softphone.runtime import run_headless

            return run_headless(options)
        from softphone.gui import run_gui

        return run_gui(options, loaded)
    except StartupError as exc:
        print(f"{APP_NAME}: {exc}", file=sys.stderr)
        return 2


def _password_main(argv: list[str]) -> int:
    """``softphone password set|delete ACCOUNT_ID``: the OS keyring, never a file."""
    import getpass

    from softphone.config.passwords import PasswordStore

    parser = argparse.ArgumentParser(prog=f"{APP_NAME} password",
                                     description="Store an account's password in the OS keyring.")
    parser.add_argument("action", choices=["set", "delete"])
    parser.add_argument("account_id")
    args = parser.parse_args(argv)
    store = PasswordStore()
    if args.action == "delete":
        store.delete(args.account_id)
    else:
        password = (getpass.getpass(f"Password for {args.account_id}: ") if sys.stdin.isatty()
                    else sys.stdin.readline().rstrip("\n"))
        if not password:
            print(f"{APP_NAME}: empty password; nothing stored", file=sys.stderr)
            return 1
        if not store.set(args.account_id, password):
            print(f"{APP_NAME}: {store.problem}", file=sys.stderr)
            return 1
    if store.problem:
        print(f"{APP_NAME}: {store.problem}", file=sys.stderr)
        return 1
    return 0
