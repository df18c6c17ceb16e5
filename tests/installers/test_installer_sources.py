"""The installer sources that cannot be built on this machine, checked as far as
they can be here: the workflow against GitHub's schema, the WiX source as XML
declaring its public properties, the macOS plists, and the shared helper that
the MSI and the macOS package run to place provisioning."""

from __future__ import annotations

import importlib.util
import os
import plistlib
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.helpers.tools import missing

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "installers.yml"
WXS = ROOT / "installers" / "windows" / "softphone.wxs"
MACOS = ROOT / "installers" / "macos"
WIX_NS = "{http://wixtoolset.org/schemas/v4/wxs}"


def test_workflow_matches_github_schema() -> None:
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) \
        or shutil.which("check-jsonschema")
    if tool is None:
        missing("check-jsonschema is not installed (it is in the test extra)")
    # The schema ships inside check-jsonschema: no network needed.
    proc = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflow_builds_installs_self_tests_and_uninstalls_on_each_os() -> None:
    workflow: Any = YAML(typ="safe").load(WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    entries = job["strategy"]["matrix"]["include"]
    runners = {entry["name"]: entry["os"] for entry in entries}
    assert runners["linux"].startswith("ubuntu")
    assert runners["windows"].startswith("windows")
    assert runners["macos"].startswith("macos")
    assert job["runs-on"] == "${{ matrix.os }}"
    assert job["strategy"]["fail-fast"] is False  # one OS failing still reports the others
    steps = {os_name: _script(job, os_name) for os_name in ("Linux", "Windows", "macOS")}
    for os_name, script in steps.items():
        assert "installers/softphone.spec" in script or "build-macos.sh" in script, os_name
        assert "--self-test" in script, os_name
        assert "provisioning check" in script, os_name
        assert "INVALID" in script, f"{os_name}: an invalid provisioning file is not tried"
    windows, macos, linux = steps["Windows"], steps["macOS"], steps["Linux"]
    assert "msiexec" in windows and "/qn" in windows and "/x" in windows
    assert "PROVISIONING_FILE=" in windows and "START_ON_LOGIN=1" in windows
    assert "softphone-next.msi" in windows  # the major upgrade keeps the provisioning
    assert "sudo installer -pkg" in macos and "uninstall.sh" in macos
    assert "apt-get install -y" in linux and "apt-get purge" in linux
    assert "desktop-file-validate" in linux and "|| true" not in linux


def _script(job: dict[str, Any], runner_os: str) -> str:
    """The shell of the steps that run on ``runner_os`` (and of the common ones)."""
    return "\n".join(step.get("run", "") for step in job["steps"]
                     if step.get("if") in (None, f"runner.os == '{runner_os}'"))


def test_wix_source_is_well_formed_and_declares_public_properties() -> None:
    root = ET.parse(WXS).getroot()
    assert root.tag == f"{WIX_NS}Wix"
    package = root.find(f"{WIX_NS}Package")
    assert package is not None
    assert package.get("Scope") == "perMachine"
    assert package.get("UpgradeCode")
    properties = {p.get("Id"): p for p in package.iter(f"{WIX_NS}Property")}
    for name in ("PROVISIONING_FILE", "PROVISIONING_URL", "START_ON_LOGIN"):
        assert name in properties, name
        assert name.isupper()  # only all-caps properties are public (settable on msiexec)
        assert properties[name].get("Secure") == "yes", name  # reach the elevated sequence
    assert package.find(f"{WIX_NS}MajorUpgrade") is not None
    # Clean uninstall of what the custom action placed in %ProgramData%, by the helper
    # and only on a real uninstall: a RemoveFile would also fire when a major
    # upgrade removes the old version, deleting IT's provisioning.
    assert not [r.get("Name") for r in package.iter(f"{WIX_NS}RemoveFile")
                if "provisioning" in (r.get("Name") or "")]
    assert any(r.get("On") == "uninstall" for r in package.iter(f"{WIX_NS}RemoveFolder"))
    remover = {a.get("Id"): a for a in package.iter(f"{WIX_NS}CustomAction")}["RemoveProvisioning"]
    assert remover.get("Return") == "ignore" and remover.get("Impersonate") == "no"
    command = {p.get("Id"): p.get("Value") for p in package.iter(f"{WIX_NS}SetProperty")}
    assert " remove --dir " in (command["RemoveProvisioning"] or "")
    scheduled = {c.get("Action"): c for c in package.iter(f"{WIX_NS}Custom")}
    condition = scheduled["RemoveProvisioning"].get("Condition") or ""
    assert "NOT UPGRADINGPRODUCTCODE" in condition and "REMOVE" in condition
    assert scheduled["RemoveProvisioning"].get("Before") == "RemoveFiles"
    # Bad provisioning input never fails the install.
    action = next(a for a in package.iter(f"{WIX_NS}CustomAction")
                  if a.get("Id") == "PlaceProvisioning")
    assert action.get("Return") == "ignore"
    assert action.get("Impersonate") == "no" and action.get("Execute") == "deferred"
    run_key = [v for v in package.iter(f"{WIX_NS}RegistryValue")
               if v.get("Key", "").endswith(r"CurrentVersion\Run")]
    assert run_key, "START_ON_LOGIN writes nothing"


def test_macos_plists() -> None:
    entitlements = plistlib.loads((MACOS / "entitlements.plist").read_bytes())
    assert entitlements["com.apple.security.device.audio-input"] is True
    info = plistlib.loads((MACOS / "Info.plist").read_bytes())
    assert "microphone" in info["NSMicrophoneUsageDescription"]
    spec = (ROOT / "installers" / "softphone.spec").read_text()
    assert "macos\" / \"Info.plist" in spec and "entitlements.plist" in spec
    build = (MACOS / "build-macos.sh").read_text()
    assert "--options runtime" in build and "pkgbuild" in build and "hdiutil" in build
    # Notarization rejects signatures without a secure timestamp.
    assert "timestamp=(--timestamp)" in build


@pytest.mark.parametrize("script", sorted(
    [*ROOT.glob("installers/**/*.sh"), ROOT / "installers/linux/postinst",
     ROOT / "installers/linux/postrm", ROOT / "installers/macos/scripts/postinstall"]),
    ids=lambda p: str(p.relative_to(ROOT)))
def test_shell_scripts_parse_and_are_strict(script: Path) -> None:
    text = script.read_text()
    assert "set -euo pipefail" in text
    assert os.access(script, os.X_OK), f"{script} is not executable"
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _provision() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "softphone_provision", ROOT / "installers" / "provision.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_provision_helper_places_file_and_pointer_and_removes_them(tmp_path: Path) -> None:
    from softphone.config.paths import read_pointer_file

    helper = _provision()
    source = tmp_path / "agents.toml"
    source.write_text("schema_version = 1\n")
    target = tmp_path / "ProgramData" / "softphone"
    url = 'https://prov.example.com/a b/"x"\\y.toml'
    assert helper.main(["place", "--dir", f"{target}{os.sep}.", "--file", str(source),
                        "--url", url]) == 0
    assert (target / "provisioning.toml").read_text() == source.read_text()
    pointer = target / "provisioning-source.toml"
    assert tomllib.loads(pointer.read_text())["url"] == url
    assert read_pointer_file(pointer) == url
    assert helper.main(["remove", "--dir", str(target)]) == 0
    assert not target.exists()


def test_provision_helper_never_fails_on_bad_input(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    helper = _provision()
    target = tmp_path / "softphone"
    # What msiexec passes when a property is missing or points nowhere.
    assert helper.main(["place", "--dir", str(target), "--file", "", "--url", ""]) == 0
    assert not target.exists()
    missing = tmp_path / "nope.toml"
    assert helper.main(["place", "--dir", str(target), "--file", str(missing), "--url", ""]) == 0
    assert "not placed" in capsys.readouterr().err
    assert not (target / "provisioning.toml").exists()
    assert helper.main(["remove", "--dir", str(tmp_path / "never-created")]) == 0
