"""End-to-end fixtures (defined in tests/e2e_support.py so tests can also import its helpers)."""

from e2e_support import drplan, emu, emulator_process, spec_file  # noqa: F401
