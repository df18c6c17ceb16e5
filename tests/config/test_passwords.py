"""Passwords: a real keyring backend, refusing backends, and never a file of ours."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring  # type: ignore[import-untyped]

from softphone.config.passwords import SERVICE, PasswordStore
from tests.helpers.keyring_backends import LockedKeyring, MemoryKeyring, MissingKeyring


@pytest.fixture
def restore_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


def file_backend(path: Path) -> PlaintextKeyring:
    backend = PlaintextKeyring()
    backend.file_path = str(path)
    return backend


def test_stored_through_a_real_file_backend_and_read_back_by_a_new_instance(tmp_path: Path):
    vault = tmp_path / "vault.cfg"
    store = PasswordStore(file_backend(vault))
    assert store.set("main", "s3cret!") is True
    assert store.problem is None
    # A fresh backend object reading the same storage: the secret persisted there.
    assert PasswordStore(file_backend(vault)).get("main") == "s3cret!"
    assert PasswordStore(file_backend(vault)).get("other") is None
    assert file_backend(vault).get_password(SERVICE, "main") == "s3cret!"
    store.delete("main")
    assert PasswordStore(file_backend(vault)).get("main") is None


def test_default_backend_comes_from_keyring(restore_keyring: None):
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    store = PasswordStore()
    assert store.set("acc-1", "pw") is True
    assert backend.entries == {(SERVICE, "acc-1"): "pw"}
    assert store.get("acc-1") == "pw"


@pytest.mark.parametrize(("backend", "words"), [
    (LockedKeyring(), "locked or access was refused"),
    (MissingKeyring(), "no system keyring is available"),
])
def test_refusing_keyring_gives_a_clear_message_and_a_session_only_password(
        backend, words, restore_keyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    keyring.set_keyring(backend)
    store = PasswordStore()
    assert store.get("main") is None  # no crash
    assert store.problem is not None and words in store.problem
    assert store.set("main", "typed-at-start") is False
    assert "session only" in store.problem and "never written" in store.problem
    assert store.is_session_only("main")
    assert store.get("main") == "typed-at-start"
    # Nothing was written anywhere we can see: not here, not in the store's dirs.
    assert not any("typed-at-start" in p.read_text(errors="ignore")
                   for p in tmp_path.rglob("*") if p.is_file())
    # A new session asks again.
    assert PasswordStore().get("main") is None


def test_an_automatically_chosen_plaintext_backend_is_refused(restore_keyring, tmp_path: Path):
    vault = tmp_path / "plaintext.cfg"
    keyring.set_keyring(file_backend(vault))
    store = PasswordStore()
    assert store.set("main", "do-not-write-me") is False
    assert store.problem is not None and "no secure system keyring" in store.problem
    assert not vault.exists()
    assert store.get("main") == "do-not-write-me"
