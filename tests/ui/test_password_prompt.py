"""Passwords in the desktop: asked at start when none is stored, set from Settings,
kept for the session only when the keyring refuses; the account registers with
what was typed (checked by a digest-authenticating registrar)."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

from softphone.app_config import plan_start
from softphone.cli import build_parser
from softphone.config.passwords import SERVICE, PasswordStore
from softphone.config.startup import LoadedConfig, load_configuration
from softphone.core.registration import RegistrationState
from softphone.gui import Desktop, GuiConfigurator, hold_back_missing_passwords, open_desktop
from softphone.runtime import Runtime, RuntimeOptions
from softphone.sip.account_types import AccountInfo
from softphone.ui.first_run_dialog import FirstRunDialog
from softphone.ui.password_dialog import PasswordDialog
from tests.helpers.keyring_backends import LockedKeyring, MemoryKeyring
from tests.helpers.runtime import release_engine

USER, PASSWORD, REALM, NONCE = "4101", "s3cret-Pw", "test.lab", "f84f1cec41e6cbe5aea9c8e88d359"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class DigestRegistrar:
    """A UDP registrar on 127.0.0.1 that challenges every REGISTER (digest MD5,
    RFC 2617 without qop) and accepts only ``USER``/``PASSWORD``.

    Attributes:
        port: where it listens.
        outcomes: per REGISTER: "challenged" (no credentials), "ok" or "bad".
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)  # lets the thread see stop(); not a wait on a result
        self.port = int(self.sock.getsockname()[1])
        self.outcomes: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="registrar", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            reply = self._answer(data.decode("utf-8", "replace"))
            if reply:
                self.sock.sendto(reply.encode(), peer)

    def _answer(self, text: str) -> str | None:
        lines = text.split("\r\n\r\n", 1)[0].split("\r\n")
        method = lines[0].split(" ", 1)[0]
        headers = [(h.split(":", 1)[0].strip().lower(), h) for h in lines[1:] if ":" in h]
        copied = [h for name, h in headers if name in ("via", "from", "call-id", "cseq")]
        to = next(h for name, h in headers if name == "to")
        to += "" if ";tag=" in to else ";tag=reg"
        head = [*copied, to]
        if method == "OPTIONS":  # keep-alives
            return _response("200 OK", head)
        if method != "REGISTER":
            return None
        challenge = [*head, f'WWW-Authenticate: Digest realm="{REALM}", nonce="{NONCE}", '
                            'algorithm=MD5']
        auth = next((h.split(":", 1)[1] for name, h in headers if name == "authorization"), None)
        if auth is None:
            self.outcomes.append("challenged")
            return _response("401 Unauthorized", challenge)
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', auth))
        expected = _md5(f"{_md5(f'{USER}:{REALM}:{PASSWORD}')}:{NONCE}:"
                        f"{_md5('REGISTER:' + params.get('uri', ''))}")
        if params.get("username") != USER or params.get("response") != expected:
            self.outcomes.append("bad")
            return _response("401 Unauthorized", challenge)  # as registrars do
        self.outcomes.append("ok")
        contact = next(h for name, h in headers if name in ("contact", "m"))
        return _response("200 OK", [*head, f"{contact};expires=300", "Expires: 300"])


def _response(status: str, headers: list[str]) -> str:
    return "\r\n".join([f"SIP/2.0 {status}", *headers, "Content-Length: 0", "", ""])


@pytest.fixture
def registrar() -> Iterator[DigestRegistrar]:
    server = DigestRegistrar()
    yield server
    server.stop()


@dataclass
class Started:
    runtime: Runtime
    desktop: Desktop
    loaded: LoadedConfig

    @property
    def configurator(self) -> GuiConfigurator:
        assert self.desktop.configurator is not None
        return self.desktop.configurator


StartGui = Callable[[str, KeyringBackend], Started]


@contextlib.contextmanager
def desktops(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        StartGui]:
    """Starts the desktop as ``softphone`` would, on a provisioning file and a
    keyring; releases every engine at the end (shared with test_settings_dialog)."""
    system = tmp_path / "system"
    system.mkdir()
    monkeypatch.setenv("SOFTPHONE_SYSTEM_CONFIG_DIR", str(system))
    monkeypatch.delenv("SOFTPHONE_PROVISIONING", raising=False)
    started: list[Started] = []

    def start(provisioning: str, backend: KeyringBackend) -> Started:
        (system / "provisioning.toml").write_text(provisioning)
        loaded = load_configuration(tmp_path / "profile", passwords=PasswordStore(backend))
        args = build_parser().parse_args(["--sip-port", "0", "--null-audio"])
        plan = plan_start(args, loaded)
        options = RuntimeOptions(profile=tmp_path / "profile", engine=plan.engine,
                                 accounts=plan.accounts, problems=plan.problems)
        options, held_back = hold_back_missing_passwords(options, loaded)
        gc.collect()
        runtime = Runtime(options)
        runtime.start()
        desktop = open_desktop(runtime, loaded, held_back)
        qtbot.addWidget(desktop.window)
        started.append(Started(runtime, desktop, loaded))
        return started[-1]

    try:
        yield start
    finally:
        for s in started:
            release_engine(s.runtime)


@pytest.fixture
def start_gui(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        StartGui]:
    with desktops(qtbot, tmp_path, monkeypatch) as start:
        yield start


def provisioning(registrar: DigestRegistrar) -> str:
    return (f'[[accounts]]\nid = "cc"\naor = "sip:{USER}@127.0.0.1:{registrar.port}"\n'
            'display_name = "<b>Contact</b> Center"\n')


def wait_state(qtbot: QtBot, runtime: Runtime, state: RegistrationState) -> AccountInfo:
    """The account "cc" once it is in ``state`` (now, or at its next change)."""
    def now() -> AccountInfo | None:
        return next((i for i in runtime.engine.accounts.infos()
                     if i.account_id == "cc" and i.state == state), None)

    if now() is None:
        with qtbot.waitSignal(runtime.engine.accounts.registration_changed, timeout=10000,
                              check_params_cb=lambda i: i.account_id == "cc" and i.state == state):
            pass
    info = now()
    assert info is not None
    return info


def type_password(qtbot: QtBot, dialog: PasswordDialog, password: str) -> None:
    assert dialog.password_edit.echoMode() == QLineEdit.EchoMode.Password
    QTest.keyClicks(dialog.password_edit, password)
    with qtbot.waitSignal(dialog.accepted):
        QTest.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


def test_missing_password_is_asked_at_start_and_the_account_registers_with_it(
        qtbot: QtBot, start_gui, registrar: DigestRegistrar):
    backend = MemoryKeyring()
    gui = start_gui(provisioning(registrar), backend)
    dialog = gui.configurator.password_dialog
    assert isinstance(dialog, PasswordDialog) and dialog.isVisible()
    assert dialog.message_label.textFormat() == Qt.TextFormat.PlainText
    assert f"sip:{USER}@127.0.0.1:{registrar.port}" in dialog.message_label.text()
    assert dialog.remember_box.isEnabled() and dialog.remember_box.isChecked()
    assert not dialog.note_label.isVisibleTo(dialog)
    assert not dialog.ok_button.isEnabled()  # nothing typed yet
    # Not registered with an empty password meanwhile.
    assert "cc" not in gui.runtime.engine.accounts.account_ids()
    assert registrar.outcomes == []
    # No "store it in Settings" sentence in the problem box: the dialog asks instead.
    assert gui.configurator.problem_box is None
    with qtbot.waitSignal(gui.runtime.engine.accounts.registration_changed, timeout=10000,
                          check_params_cb=lambda i: i.account_id == "cc"
                          and i.state == RegistrationState.REGISTERED):
        type_password(qtbot, dialog, PASSWORD)
    assert registrar.outcomes[-1] == "ok"
    assert backend.entries == {(SERVICE, "cc"): PASSWORD}  # remembered in the keyring
    assert gui.configurator.password_dialog is None


def test_a_keyring_refusing_access_keeps_it_for_the_session_and_writes_nothing(
        qtbot: QtBot, start_gui, registrar: DigestRegistrar, tmp_path: Path):
    store_backend = LockedKeyring()
    gui = start_gui(provisioning(registrar), store_backend)
    box = gui.configurator.problem_box
    assert box is not None and "locked or access was refused" in box.detailedText()
    dialog = gui.configurator.password_dialog
    assert isinstance(dialog, PasswordDialog)
    assert not dialog.remember_box.isEnabled() and not dialog.remember_box.isChecked()
    note = dialog.note_label.text()
    assert dialog.note_label.isVisibleTo(dialog)
    assert "this session only" in note and "never written" in note
    assert dialog.note_label.textFormat() == Qt.TextFormat.PlainText
    with qtbot.waitSignal(gui.runtime.engine.accounts.registration_changed, timeout=10000,
                          check_params_cb=lambda i: i.account_id == "cc"
                          and i.state == RegistrationState.REGISTERED):
        type_password(qtbot, dialog, PASSWORD)
    assert gui.loaded.passwords.is_session_only("cc")
    gui.desktop.window.close()  # settings and UI state are written now
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and not any(PASSWORD in p.read_text(errors="ignore") for p in written)


def test_declining_leaves_the_account_unregistered_and_says_where_to_set_it(
        qtbot: QtBot, start_gui, registrar: DigestRegistrar):
    gui = start_gui(provisioning(registrar), MemoryKeyring())
    dialog = gui.configurator.password_dialog
    assert dialog is not None
    with qtbot.waitSignal(dialog.rejected):
        QTest.keyClick(dialog, Qt.Key.Key_Escape)
    assert "cc" not in gui.runtime.engine.accounts.account_ids()
    assert "Settings > Accounts" in gui.desktop.window.statusBar().currentMessage()
    assert registrar.outcomes == []


def test_settings_sets_a_provisioned_accounts_password_and_it_registers_again(
        qtbot: QtBot, start_gui, registrar: DigestRegistrar):
    backend = MemoryKeyring()
    backend.set_password(SERVICE, "cc", "an-old-password")
    gui = start_gui(provisioning(registrar), backend)
    assert gui.configurator.password_dialog is None  # one is stored: nothing asked
    failed = wait_state(qtbot, gui.runtime, RegistrationState.FAILED)
    assert "password" in failed.message and registrar.outcomes[-1] == "bad"
    gui.configurator.open_settings()
    settings = gui.configurator.settings_dialog
    assert settings is not None
    settings.accounts_list.setCurrentRow(0)  # IT's account: locked, but its password is not
    assert settings.password_button.isEnabled()
    assert not settings.remove_account_button.isEnabled()
    QTest.mouseClick(settings.password_button, Qt.MouseButton.LeftButton)
    dialog = settings.password_dialog
    assert dialog is not None and dialog.isVisible()
    with qtbot.waitSignal(gui.runtime.engine.accounts.registration_changed, timeout=10000,
                          check_params_cb=lambda i: i.account_id == "cc"
                          and i.state == RegistrationState.REGISTERED):
        type_password(qtbot, dialog, PASSWORD)
    assert registrar.outcomes[-1] == "ok"
    assert backend.entries == {(SERVICE, "cc"): PASSWORD}


def test_not_remembering_keeps_it_for_the_session_and_forgets_an_older_one(qtbot: QtBot):
    backend = MemoryKeyring()
    backend.set_password(SERVICE, "cc", "older")
    store = PasswordStore(backend)
    dialog = PasswordDialog(store, "cc", "sip:<i>4101</i>@pbx.example.com")
    qtbot.addWidget(dialog)
    assert dialog.message_label.text().startswith("Password of the SIP account sip:<i>4101</i>")
    dialog.remember_box.setChecked(False)
    type_password(qtbot, dialog, "only-today")
    assert dialog.password == "only-today" and dialog.password_edit.text() == ""
    assert backend.entries == {}  # the older one would have come back next start
    assert store.get("cc") == "only-today" and store.is_session_only("cc")


def test_first_run_account_without_a_password_is_asked_for_it(qtbot: QtBot, start_gui: StartGui,
                                                              registrar: DigestRegistrar):
    gui = start_gui("", MemoryKeyring())
    (first_run,) = gui.desktop.window.findChildren(FirstRunDialog)
    QTest.keyClicks(first_run.aor_edit, f"sip:{USER}@127.0.0.1:{registrar.port}")
    with qtbot.waitSignal(first_run.accepted):
        QTest.mouseClick(first_run.add_button, Qt.MouseButton.LeftButton)
    dialog = gui.configurator.password_dialog
    assert dialog is not None and dialog.account_id == first_run.account.id  # type: ignore[union-attr]
    assert registrar.outcomes == []  # not registered with an empty password
    with qtbot.waitSignal(gui.runtime.engine.accounts.registration_changed, timeout=10000,
                          check_params_cb=lambda i: i.state == RegistrationState.REGISTERED):
        type_password(qtbot, dialog, PASSWORD)
    assert registrar.outcomes[-1] == "ok"
