"""From the loaded configuration to what the runtime starts with (app_config.plan_start)."""

from __future__ import annotations

from pathlib import Path

from softphone.app_config import plan_start
from softphone.cli import build_parser
from softphone.config.startup import load_configuration

ACCOUNTS = """\
[[accounts]]
id = "pub"
aor = "sip:4101@pbx.example.com"
presence = "publish"

[[accounts]]
id = "peer"
aor = "sip:4102@pbx.example.com"
"""


def provisioned(system_dir: Path, text: str = ACCOUNTS) -> None:
    (system_dir / "provisioning.toml").write_text(text)


def test_provisioned_presence_publish_enables_publish(system_dir: Path, tmp_path: Path):
    provisioned(system_dir)
    loaded = load_configuration(tmp_path / "p")
    plan = plan_start(build_parser().parse_args(["--headless"]), loaded)
    specs = {a.account_id: a.spec for a in plan.accounts}
    assert specs["pub"].publish is True
    assert specs["peer"].publish is False  # the default: peer-to-peer SUBSCRIBEs


def test_unknown_presence_mode_is_a_provisioning_error(system_dir: Path, tmp_path: Path):
    provisioned(system_dir, ACCOUNTS.replace('"publish"', '"server"'))
    loaded = load_configuration(tmp_path / "p")
    (problem,) = loaded.problems
    assert f"{system_dir / 'provisioning.toml'}:4: accounts[0].presence" in problem
    assert loaded.effective.accounts == []  # defaults are in use

