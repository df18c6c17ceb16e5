"""Place or remove IT's provisioning in the machine-wide directory (installer helper).

The Windows MSI and the macOS package run this from the installed app folder:

    softphone-provision place --dir DIR [--file FILE] [--url URL]
    softphone-provision remove --dir DIR

``place`` copies FILE to ``DIR/provisioning.toml`` and writes the pointer
file ``DIR/provisioning-source.toml`` (``url = "..."``) for URL. It never
fails an install: a missing or unreadable file is reported on stderr and
skipped; the file's content is not judged here - the app checks it at start,
exactly like ``softphone provisioning check``. ``remove`` deletes what
``place`` may have written and the directory when it is then empty.
Standard library only: it is frozen on its own, next to the app.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

PROVISIONING_FILE = "provisioning.toml"
POINTER_FILE = "provisioning-source.toml"
WRITTEN = (PROVISIONING_FILE, POINTER_FILE)


def toml_string(value: str) -> str:
    """A TOML basic string literal for value."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c >= " " or c == "\t" else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)  # readable by every agent account, writable by admins only
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def place(directory: Path, file: str | None, url: str | None) -> list[str]:
    """Write what was asked for; returns warnings (never raises for bad input)."""
    warnings: list[str] = []
    file = (file or "").strip().strip('"')
    url = (url or "").strip()
    if not file and not url:
        return warnings
    directory.mkdir(parents=True, exist_ok=True)
    if file:
        source = Path(file)
        try:
            data = source.read_bytes()
        except OSError as exc:
            warnings.append(f"provisioning file {file} not placed: {exc.strerror or exc}")
        else:
            _atomic_write(directory / PROVISIONING_FILE, data)
    if url:
        text = ("# Written by the softphone installer (PROVISIONING_URL).\n"
                f"url = {toml_string(url)}\n")
        _atomic_write(directory / POINTER_FILE, text.encode("utf-8"))
    return warnings


def remove(directory: Path) -> None:
    for name in WRITTEN:
        (directory / name).unlink(missing_ok=True)
    for leftover in directory.glob(".provisioning*"):  # an interrupted atomic write
        leftover.unlink(missing_ok=True)
    # Not empty (an admin's own files) or already gone: leave it.
    with contextlib.suppress(OSError):
        directory.rmdir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="softphone-provision")
    commands = parser.add_subparsers(dest="command", required=True)
    place_cmd = commands.add_parser("place")
    place_cmd.add_argument("--dir", required=True, type=Path)
    place_cmd.add_argument("--file")
    place_cmd.add_argument("--url")
    remove_cmd = commands.add_parser("remove")
    remove_cmd.add_argument("--dir", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "place":
            for warning in place(args.dir, args.file, args.url):
                print(f"softphone: warning: {warning}", file=sys.stderr)
        else:
            remove(args.dir)
    except OSError as exc:
        # The install or uninstall goes on: the app reports missing provisioning itself.
        print(f"softphone: warning: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
