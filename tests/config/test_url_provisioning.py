"""Provisioning from an HTTPS URL: ETag caching, a server down, a bad download."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from softphone.config.errors import ConfigError, ConfigUnreadableError
from softphone.config.loader import ProvisioningCache, load_provisioning
from tests.helpers.https_server import ProvisioningServer, make_self_signed_cert

GOOD = b'[features]\nsession_transfer = false\n[agent]\nwrap_up_seconds = 15\n'


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed_cert(tmp_path_factory.mktemp("cert"))


@pytest.fixture
def server(certificate: tuple[Path, Path]) -> Iterator[ProvisioningServer]:
    srv = ProvisioningServer(*certificate)
    srv.served.body = GOOD
    yield srv
    srv.stop()


def test_download_then_304_with_the_cached_etag(server: ProvisioningServer, tmp_path: Path):
    cache = ProvisioningCache(tmp_path / "cache")
    first = load_provisioning(server.url, cache, ssl_context=server.client_context)
    assert first.provisioning.agent.wrap_up_seconds == 15 and not first.from_cache
    second = load_provisioning(server.url, cache, ssl_context=server.client_context)
    assert server.served.requests == ["", '"v1"']  # the second asked If-None-Match
    assert second.provisioning == first.provisioning and not second.from_cache
    assert second.problem is None
    # A changed file on the server is downloaded again.
    server.served.body, server.served.etag = GOOD.replace(b"15", b"25"), '"v2"'
    third = load_provisioning(server.url, cache, ssl_context=server.client_context)
    assert third.provisioning.agent.wrap_up_seconds == 25


def test_server_down_uses_the_last_good_copy(server: ProvisioningServer, tmp_path: Path):
    cache = ProvisioningCache(tmp_path / "cache")
    load_provisioning(server.url, cache, ssl_context=server.client_context)
    server.stop()
    loaded = load_provisioning(server.url, cache, ssl_context=server.client_context,
                               timeout=5)
    assert loaded.from_cache
    assert loaded.provisioning.features.session_transfer is False
    assert loaded.problem is not None and "cannot connect" in loaded.problem
    assert "last good provisioning" in loaded.problem


def test_server_error_uses_the_last_good_copy(server: ProvisioningServer, tmp_path: Path):
    cache = ProvisioningCache(tmp_path / "cache")
    load_provisioning(server.url, cache, ssl_context=server.client_context)
    server.served.status = 503
    loaded = load_provisioning(server.url, cache, ssl_context=server.client_context)
    assert loaded.from_cache and "503" in (loaded.problem or "")


def test_malformed_download_never_overwrites_the_cache(server: ProvisioningServer,
                                                       tmp_path: Path):
    cache = ProvisioningCache(tmp_path / "cache")
    load_provisioning(server.url, cache, ssl_context=server.client_context)
    before = {p.name: p.read_bytes() for p in (tmp_path / "cache").iterdir()
              if p.suffix == ".toml"}
    server.served.body, server.served.etag = b"[features\nsession_transfer = 1\n", '"v2"'
    loaded = load_provisioning(server.url, cache, ssl_context=server.client_context)
    assert loaded.from_cache
    assert "not valid TOML" in (loaded.problem or "")
    after = {p.name: p.read_bytes() for p in (tmp_path / "cache").iterdir()
             if p.suffix == ".toml"}
    assert after == before
    # The bad ETag was not remembered either: the next request is not a 304 on the bad copy.
    load_provisioning(server.url, cache, ssl_context=server.client_context)
    assert server.served.requests[-1] == '"v1"'


def test_no_cache_and_server_down_is_unreadable(server: ProvisioningServer, tmp_path: Path):
    server.stop()
    with pytest.raises(ConfigUnreadableError):
        load_provisioning(server.url, ProvisioningCache(tmp_path / "c"),
                          ssl_context=server.client_context, timeout=5)


def test_untrusted_certificate_is_refused(server: ProvisioningServer):
    # The default context does not trust the throwaway certificate.
    with pytest.raises(ConfigUnreadableError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        load_provisioning(server.url)


def test_invalid_download_without_cache_raises_config_error(server: ProvisioningServer):
    server.served.body = b'[features]\nsession_transfer = "yes"\n'
    with pytest.raises(ConfigError) as info:
        load_provisioning(server.url, ssl_context=server.client_context)
    assert str(info.value.issues[0]).startswith(f"{server.url}:2: features.session_transfer")


def test_plain_http_is_refused():
    with pytest.raises(ConfigUnreadableError, match="https"):
        load_provisioning("http://127.0.0.1:9/provisioning.toml")
