"""Fixtures of the apply tests (defined in tests/apply_support.py, so tests can also import its helpers)."""

from apply_support import emulated  # noqa: F401
