"""``softphone --version``: the real command prints the app's and PJSIP's versions."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The version of the PJSIP library actually loaded, asked from a live endpoint.
LIB_VERSION = """
import pjsua2 as pj
ep = pj.Endpoint()
ep.libCreate()
version = ep.libVersion().full
ep.libDestroy()
print("version", version)
"""


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOFTPHONE_")}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def expected() -> str:
    app = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    lib = run([sys.executable, "-c", LIB_VERSION])
    assert lib.returncode == 0, lib.stderr
    version = [line for line in lib.stdout.splitlines() if line.startswith("version ")]
    assert version, lib.stdout
    return f"softphone {app} (PJSIP {version[-1].split()[1]})"


def test_python_m_softphone_version(expected: str) -> None:
    proc = run([sys.executable, "-m", "softphone", "--version"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected
    assert re.fullmatch(r"softphone \d+\.\d+\.\d+\S* \(PJSIP \d+\.\d+(\.\d+)?\)",
                        proc.stdout.strip())
    assert proc.stderr == ""  # no PJSIP start-up chatter: no endpoint is created


def test_installed_console_script_version(expected: str) -> None:
    script = Path(sys.executable).with_name("softphone")
    if not script.exists():
        pytest.skip("the softphone console script is not installed in this environment")
    proc = run([str(script), "--version"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected
    # The metadata pip installed agrees with the source.
    assert importlib.metadata.version("softphone") in proc.stdout
