"""The Linux package, end to end: PyInstaller bundle -> .deb -> install into a
throwaway dpkg root -> ``--self-test`` and the GUI under Xvfb from the
installed location -> purge, leaving nothing behind.

No container is needed: ``dpkg --root=DIR --force-script-chrootless`` unpacks
into DIR with its own dpkg database and runs the maintainer scripts on the host
with ``DPKG_ROOT=DIR`` (the scripts prefix every path with it). Dependencies are
not installed into that root (``--force-depends``); instead every declared
dependency is checked to be installed on this machine, so the run proves that
they suffice.

The bundle is cached under ``build/test-cache`` keyed by a hash of everything
that goes into it, so only the first run pays PyInstaller's ~25 s.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.tools import missing
from tests.helpers.xvfb import private_xvfb

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "installers" / "softphone.spec"
BUILD_DEB = ROOT / "installers" / "linux" / "build-deb.sh"
CACHE = ROOT / "build" / "test-cache"
SKELETON = ("etc", "etc/default")
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Debian packaging"),
    pytest.mark.timeout(300),
]


def need_tool(name: str) -> str:
    """The tool's path; a missing tool fails under CI (it must be installed there)."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} not found")
    return path


def need_pyinstaller() -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        missing("PyInstaller is not installed (it is in the test extra)")


# -- building (once per session, cached across sessions) ---------------------------


def bundle_inputs_hash() -> str:
    digest = hashlib.sha256()
    digest.update(f"{sys.version}|{importlib.metadata.version('pyinstaller')}".encode())
    files = [SPEC, ROOT / "installers" / "entry.py", ROOT / "installers" / "LICENSE.txt",
             ROOT / "pyproject.toml"]
    files += sorted((ROOT / "softphone").rglob("*.py"))
    files += sorted(p for p in (ROOT / "resources").rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def bundle() -> Path:
    """build/test-cache/bundle-<hash>/softphone: the one-folder PyInstaller app."""
    need_pyinstaller()
    key = bundle_inputs_hash()
    done = CACHE / f"bundle-{key}"
    app = done / "softphone"
    if (app / "softphone").is_file():
        return app
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in CACHE.glob("bundle-*"):  # one cached bundle is enough (~200 MB each)
        shutil.rmtree(old, ignore_errors=True)
    partial = CACHE / f"partial-{key}"
    shutil.rmtree(partial, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--log-level", "WARN",
         "--distpath", str(partial), "--workpath", str(CACHE / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    partial.rename(done)  # only a complete build is ever found under the key
    return app


@pytest.fixture(scope="session")
def deb(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_tool("dpkg-deb")
    out = tmp_path_factory.mktemp("deb")
    # gzip -1: the test needs a valid package, not the smallest one.
    env = {**os.environ, "DEB_COMPRESSION": "gzip", "DEB_COMPRESSION_LEVEL": "1"}
    proc = subprocess.run(["bash", str(BUILD_DEB), str(bundle), str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.is_file() and path.suffix == ".deb"
    return path


# -- a throwaway dpkg root ---------------------------------------------------------


@dataclass
class DpkgRoot:
    path: Path

    @classmethod
    def create(cls, path: Path) -> DpkgRoot:
        need_tool("dpkg")
        admin = path / "var" / "lib" / "dpkg"
        for sub in ("info", "updates", "triggers"):
            (admin / sub).mkdir(parents=True)
        for name in ("status", "available"):
            (admin / name).touch()
        # Directories every Debian system has (base-files), which no package removes.
        for sub in SKELETON:
            (path / sub).mkdir(parents=True, exist_ok=True)
        return cls(path)

    def dpkg(self, *args: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = ["dpkg", f"--root={self.path}", "--force-script-chrootless", "--force-depends",
               "--force-not-root", *args]
        return subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True,
                              text=True, timeout=120)

    def install(self, deb: Path,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.dpkg("-i", str(deb), env=env)

    @property
    def app(self) -> Path:
        return self.path / "opt" / "softphone" / "softphone"

    @property
    def etc(self) -> Path:
        return self.path / "etc" / "softphone"

    def leftovers(self) -> list[str]:
        """Every file or directory outside dpkg's own database."""
        found = []
        for path in sorted(self.path.rglob("*")):
            rel = path.relative_to(self.path)
            if rel.parts[:3] == ("var", "lib", "dpkg") or rel.parts in (("var",), ("var", "lib")):
                continue
            if str(rel) in SKELETON and path.is_dir():
                continue
            found.append(str(rel))
        return found


@pytest.fixture
def dpkg_root(tmp_path: Path) -> DpkgRoot:
    return DpkgRoot.create(tmp_path / "root")


def run_self_test(root: DpkgRoot, home: Path) -> subprocess.CompletedProcess[str]:
    """``softphone --self-test`` from the installed location, reading the root's /etc."""
    env = {**_clean_env(home), "SOFTPHONE_SYSTEM_CONFIG_DIR": str(root.etc)}
    return subprocess.run([str(root.app), "--self-test"], env=env, capture_output=True,
                          text=True, timeout=60)


def _clean_env(home: Path) -> dict[str, str]:
    """The user's environment pointed at a scratch home (no real keyring, settings or state)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOFTPHONE_", "QT_", "XDG_", "PYTHON"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
               XDG_STATE_HOME=str(home / "state"), XDG_CACHE_HOME=str(home / "cache"),
               XDG_DATA_HOME=str(home / "data"))
    return env


def report_lines(stdout: str) -> dict[str, str]:
    """check name -> status, from the self-test report."""
    lines = {}
    for line in stdout.splitlines():
        match = re.match(r"^(OK|WARN|FAIL)\s+(\S+)\s", line)
        if match:
            lines[match.group(2)] = match.group(1)
    return lines


# -- Xvfb --------------------------------------------------------------------------


@pytest.fixture
def xvfb_display() -> Iterator[str]:
    with private_xvfb(need_tool("Xvfb"), "1280x800x24") as display:
        yield display


def wait_for_window(display: str, name: str, proc: subprocess.Popen[str],
                    timeout: float) -> list[str]:
    """Window ids whose title matches; polls xdotool until one is mapped (or the app died)."""
    xdotool = need_tool("xdotool")
    deadline = time.monotonic() + timeout
    env = {**os.environ, "DISPLAY": display}
    while time.monotonic() < deadline:
        found = subprocess.run([xdotool, "search", "--onlyvisible", "--name", name], env=env,
                               capture_output=True, text=True, timeout=10)
        ids = found.stdout.split()
        if ids:
            return ids
        if proc.poll() is not None:
            break
        time.sleep(0.05)  # polling interval of an event we cannot subscribe to
    out, err = proc.communicate(timeout=10) if proc.poll() is not None else ("", "")
    pytest.fail(f"no '{name}' window on {display} within {timeout} s; exit {proc.returncode}\n"
                f"{out}\n{err}")


# -- the tests ---------------------------------------------------------------------


def test_package_contents_and_dependencies(deb: Path) -> None:
    info = subprocess.run(["dpkg-deb", "--field", str(deb), "Package", "Depends"],
                          capture_output=True, text=True, check=True).stdout
    assert "Package: softphone" in info
    depends = info.split("Depends:", 1)[1].replace("\n", " ")
    names = [re.sub(r"\s*\(.*?\)", "", alt).strip()
             for group in depends.split(",") for alt in group.split("|")][:]
    assert {"libportaudio2", "libegl1", "libxkbcommon0", "libxcb-cursor0"} <= set(names)
    # The declared dependencies are what this machine has: the runs below prove they suffice.
    status = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *names],
                            capture_output=True, text=True)
    installed = {line.split()[0] for line in status.stdout.splitlines()
                 if line.endswith(" installed")}
    assert set(names) <= installed, f"declared but not installed here: {set(names) - installed}"

    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    for path in ["./opt/softphone/softphone", "./usr/share/applications/softphone.desktop",
                 "./usr/share/icons/hicolor/scalable/apps/softphone.svg",
                 "./usr/share/doc/softphone/copyright",
                 "./opt/softphone/_internal/resources/icons/softphone-256.png",
                 *(f"./usr/share/icons/hicolor/{s}x{s}/apps/softphone.png" for s in ICON_SIZES)]:
        assert re.search(rf" {re.escape(path)}$", listing, re.M), f"{path} missing"
    assert re.search(r" \./usr/bin/softphone -> /opt/softphone/softphone$", listing, re.M)
    # root:root ownership whatever user built it
    assert not re.search(r"^\S+ (?!root/root)\S+ ", listing, re.M)
    if shutil.which("desktop-file-validate"):
        desktop = ROOT / "installers" / "linux" / "softphone.desktop"
        check = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True,
                               text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_install_self_test_gui_and_purge(deb: Path, dpkg_root: DpkgRoot, tmp_path: Path,
                                         xvfb_display: str) -> None:
    provisioning = tmp_path / "agents.toml"
    provisioning.write_text('schema_version = 1\n\n[agent]\nwrap_up_seconds = 5\n')
    installed = dpkg_root.install(deb, env={"SOFTPHONE_PROVISIONING_FILE": str(provisioning)})
    assert installed.returncode == 0, installed.stdout + installed.stderr
    placed = dpkg_root.etc / "provisioning.toml"
    assert placed.read_text() == provisioning.read_text()
    assert oct(placed.stat().st_mode & 0o777) == "0o644"
    link = dpkg_root.path / "usr" / "bin" / "softphone"
    assert os.readlink(link) == "/opt/softphone/softphone"

    home = tmp_path / "home"
    result = run_self_test(dpkg_root, home)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = report_lines(result.stdout)
    assert set(checks) >= {"qt", "resources", "sip", "keyring", "audio", "provisioning"}
    for name in ("qt", "resources", "sip", "provisioning"):
        assert checks[name] == "OK", result.stdout
    assert f"{placed}: valid" in result.stdout
    assert str(dpkg_root.path / "opt" / "softphone") in result.stdout  # ran from the bundle

    # The desktop app from the installed location, on a real (virtual) X server.
    env = {**_clean_env(home), "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb",
           "SOFTPHONE_SYSTEM_CONFIG_DIR": str(dpkg_root.etc)}
    began = time.monotonic()
    app = subprocess.Popen([str(dpkg_root.app), "--sip-port", "0", "--null-audio",
                            "--profile", str(home / "profile")],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        windows = wait_for_window(xvfb_display, "softphone", app, timeout=30)
        print(f"window of the installed app mapped after {time.monotonic() - began:.2f} s")
        assert windows
        app.send_signal(signal.SIGTERM)  # the app's orderly quit path (engine first)
        out, err = app.communicate(timeout=20)
    finally:
        if app.poll() is None:
            app.kill()
            app.communicate()
    assert app.returncode == 0, out + err
    assert "Traceback" not in err, err

    purged = dpkg_root.dpkg("--purge", "softphone")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert dpkg_root.leftovers() == []


def test_missing_provisioning_file_still_installs(deb: Path, dpkg_root: DpkgRoot,
                                                  tmp_path: Path) -> None:
    missing = tmp_path / "no-such-provisioning.toml"
    installed = dpkg_root.install(deb, env={"SOFTPHONE_PROVISIONING_FILE": str(missing)})
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert f"provisioning file {missing} not found" in installed.stderr
    assert not (dpkg_root.etc / "provisioning.toml").exists()
    result = run_self_test(dpkg_root, tmp_path / "home")
    assert result.returncode == 0, result.stdout + result.stderr
    assert report_lines(result.stdout)["provisioning"] == "OK"  # none: built-in defaults
    assert dpkg_root.dpkg("--purge", "softphone").returncode == 0
    assert dpkg_root.leftovers() == []


def test_invalid_provisioning_installs_and_is_reported(deb: Path, dpkg_root: DpkgRoot,
                                                       tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[agent]\nwrap_up_seconds = "soon"\n')
    # Through the admin's install-time defaults file this time (the other input).
    defaults = dpkg_root.path / "etc" / "default" / "softphone"
    defaults.write_text(f'# IT defaults\nPROVISIONING_FILE="{bad}"\n')
    installed = dpkg_root.install(deb)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    placed = dpkg_root.etc / "provisioning.toml"
    assert placed.read_text() == bad.read_text()  # placed as given: the app judges it

    result = run_self_test(dpkg_root, tmp_path / "home")
    assert result.returncode == 0, result.stdout + result.stderr  # the install works
    assert report_lines(result.stdout)["provisioning"] == "WARN"
    assert "INVALID" in result.stdout and "agent.wrap_up_seconds" in result.stdout

    check = subprocess.run([str(dpkg_root.app), "provisioning", "check", str(placed)],
                           env=_clean_env(tmp_path / "home"), capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "INVALID" in check.stderr

    assert dpkg_root.dpkg("--purge", "softphone").returncode == 0
    assert dpkg_root.leftovers() == []


def test_provisioning_url_writes_pointer_file(deb: Path, dpkg_root: DpkgRoot) -> None:
    url = 'https://prov.example.com/softphone/agents.toml?site="paris"'
    installed = dpkg_root.install(deb, env={"SOFTPHONE_PROVISIONING_URL": url})
    assert installed.returncode == 0, installed.stdout + installed.stderr
    pointer = dpkg_root.etc / "provisioning-source.toml"
    assert tomllib.loads(pointer.read_text())["url"] == url
    from softphone.config.paths import read_pointer_file

    assert read_pointer_file(pointer) == url
    # remove keeps IT's configuration (Debian policy); purge takes it away.
    assert dpkg_root.dpkg("--remove", "softphone").returncode == 0
    assert pointer.is_file()
    assert not dpkg_root.app.exists()
    assert dpkg_root.dpkg("--purge", "softphone").returncode == 0
    assert dpkg_root.leftovers() == []
