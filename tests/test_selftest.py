"""``softphone --self-test`` from source: the installers run the same from the bundle."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ("qt", "resources", "sip", "keyring", "audio", "provisioning")


def run(env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOFTPHONE_")}
    env.update(HOME=str(tmp_path), SOFTPHONE_SYSTEM_CONFIG_DIR=str(tmp_path / "etc"), **env_extra)
    return subprocess.run([sys.executable, "-m", "softphone", "--self-test"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def statuses(stdout: str) -> dict[str, str]:
    found = {}
    for line in stdout.splitlines():
        match = re.match(r"^(OK|WARN|FAIL)\s+(\S+)\s+\S", line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def test_self_test_passes_and_reports_every_check(tmp_path: Path) -> None:
    proc = run({}, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = statuses(proc.stdout)
    assert tuple(checks) == CHECKS, proc.stdout
    for name in ("qt", "resources", "sip", "provisioning"):
        assert checks[name] == "OK", proc.stdout
    assert re.search(r"transport 127\.0\.0\.1:\d+", proc.stdout)
    assert "audio null" in proc.stdout  # the null device, never a sound card
    assert proc.stdout.splitlines()[-1].startswith("self-test passed")
    assert "pjlib" not in proc.stdout  # PJSIP's start-up chatter stays off the report


def test_invalid_provisioning_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "provisioning.toml").write_text('[agent]\nwrap_up_seconds = "soon"\n')
    proc = run({}, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert statuses(proc.stdout)["provisioning"] == "WARN"
    assert "INVALID" in proc.stdout


def test_a_failing_check_makes_the_exit_status_non_zero(tmp_path: Path) -> None:
    # An unusable Qt platform stands in for a bundle missing its plugins.
    proc = run({"QT_QPA_PLATFORM": "no-such-platform"}, tmp_path)
    assert proc.returncode != 0
    assert "FAIL  qt" in proc.stdout
    assert "self-test FAILED" in proc.stdout
