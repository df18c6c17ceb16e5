"""``softphone provisioning check FILE_OR_URL``: validate a provisioning file for IT."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from softphone.config.errors import ConfigError, ConfigUnreadableError
from softphone.config.loader import load_provisioning
from softphone.config.provisioning import build_directory, provisioned_keys
from softphone.config.reference import reference_markdown
from softphone.config.schema import Provisioning

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="softphone provisioning",
        description="Tools for the IT-managed provisioning file.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check", help="validate a provisioning file or HTTPS URL and print a summary",
        description="Exit status: 0 valid, 1 invalid, 2 unreadable.")
    check.add_argument("source", metavar="FILE_OR_URL")
    commands.add_parser("reference", help="print the key reference (Markdown)")
    return parser


def provisioning_main(argv: list[str], out: TextIO | None = None,
                      err: TextIO | None = None) -> int:
    """Run ``softphone provisioning ARGS``; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_UNREADABLE
    if args.command == "reference":
        out.write(reference_markdown())
        return EXIT_VALID
    try:
        loaded = load_provisioning(args.source)
    except ConfigUnreadableError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_UNREADABLE
    except ConfigError as exc:
        count = len(exc.issues)
        print(f"{args.source}: INVALID ({count} problem{'s' if count != 1 else ''})", file=err)
        for issue in exc.issues:
            print(f"  {issue}", file=err)
        return EXIT_INVALID
    out.write(summary(loaded.provisioning, args.source))
    return EXIT_VALID


def summary(p: Provisioning, source: str) -> str:
    """A readable overview of a valid provisioning file."""
    directory = build_directory(p)
    locked = sorted(provisioned_keys(p))
    lines = [f"{source}: valid", "", f"Accounts ({len(p.accounts)}):"]
    lines += [f"  {a.id}: {a.aor} via {a.server or '(AOR host)'} [{a.transport}]"
              f"{'; presence by PUBLISH' if a.presence == 'publish' else ''}"
              for a in p.accounts] or ["  (none: agents add their own)"]
    lines += ["", "Security:",
              f"  TLS required: {_yes(p.security.tls_required)}; SRTP: {p.security.srtp}",
              "  transfer domains: "
              + (", ".join(p.security.allowed_transfer_domains) or "any"),
              f"  user accounts allowed: {_yes(p.security.allow_user_accounts)}",
              "", "Features:"]
    for name in ("session_transfer", "four_way_conference", "manual_external_transfer"):
        lock = " (locked)" if f"features.{name}" in locked else " (user default)"
        lines.append(f"  {name}: {_yes(getattr(p.features, name))}{lock}")
    lines += ["", f"Codecs: {', '.join(p.codecs.priority)}",
              f"Not Ready reasons: {', '.join(p.agent.not_ready_reasons) or '(free text)'}",
              f"Wrap-up: {p.agent.wrap_up_seconds} s, then {p.agent.wrap_up_returns_to}",
              f"Queued transfer max hold: {p.transfer.queued_max_hold_seconds} s",
              "", f"Directory: {len(directory.groups)} groups, {len(directory.agents)} agents, "
              f"{len(directory.presets)} presets"]
    if p.identity.agent_id or directory.my_groups:
        lines.append(f"  this agent: {p.identity.agent_id or '(not set)'}; my groups: "
                     + (", ".join(directory.my_groups) or "none"))
    lines += ["", "Dial plan:"]
    lines += [f"  {pattern.name}: {pattern.regex}" for pattern in p.dial_plan.patterns]
    if p.dial_plan.international_prefix:
        lines.append(f"  international prefix {p.dial_plan.international_prefix} = +")
    lines += ["", f"CRM URL: {p.crm.url_template or '(none)'}",
              "", f"Locked keys: {', '.join(locked) or 'none'}", ""]
    return "\n".join(lines)


def _yes(value: bool) -> str:
    return "yes" if value else "no"
