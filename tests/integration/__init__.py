"""Tests against the real local stack; a package so its `stack` starts once for them all and
stops after the last (a package-scoped fixture, tests/integration/conftest.py)."""
