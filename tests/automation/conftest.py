"""Fixtures for the automation API tests run in the pytest process."""

from tests.helpers.runtime import runtime  # noqa: F401  (a fixture)
