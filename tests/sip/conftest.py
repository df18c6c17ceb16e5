"""Fixtures of the SIP-layer tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.rls_server import FakeServer


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """The scripted resource-list server of the RLS tests (UDP)."""
    srv = FakeServer()
    yield srv
    srv.close()
