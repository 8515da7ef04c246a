"""Fixtures for every hardening test: `configured` (a config pointing at the fake server)."""

from tests.engine.helpers import configured as configured  # the fixture, for every hardening test
