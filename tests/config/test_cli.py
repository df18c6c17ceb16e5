"""``softphone provisioning check``: summary and exit codes."""

from __future__ import annotations

import io
from pathlib import Path

from softphone.config.cli import provisioning_main
from tests.config.conftest import EXAMPLE


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = provisioning_main(argv, out, err)
    return code, out.getvalue(), err.getvalue()


def test_valid_file_prints_a_summary():
    code, out, _ = run(["check", str(EXAMPLE)])
    assert code == 0
    assert "valid" in out
    assert "contact-center: sip:4101@pbx.example.com" in out
    assert "Directory: 3 groups, 12 agents, 3 presets" in out
    assert "four_way_conference: yes (locked)" in out
    assert "E.164: ^\\+[1-9]\\d{6,14}$" in out


def test_invalid_file_lists_problems_with_lines(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[features]\nsession_transfer = "yes"\n\n[[accounts]]\nid = "a"\n'
                   'aor = "sip:1@pbx.example.com"\npassword = "x"\n')
    code, out, err = run(["check", str(bad)])
    assert code == 1 and out == ""
    assert "INVALID (2 problems)" in err
    assert f"{bad}:2: features.session_transfer:" in err
    assert f"{bad}:7: accounts[0].password:" in err


def test_unreadable_file_exits_2(tmp_path: Path):
    code, _, err = run(["check", str(tmp_path / "missing.toml")])
    assert code == 2 and "cannot read" in err


def test_usage_error_is_not_success():
    code, _, _ = run(["frobnicate"])
    assert code == 2


def test_reference_prints_every_table():
    code, out, _ = run(["reference"])
    assert code == 0 and "`directory.groups[].members`" in out


def test_summary_shows_presence_by_publish():
    code, out, _ = run(["check", str(EXAMPLE)])
    assert code == 0
    assert "[tls]; presence by PUBLISH" in out
