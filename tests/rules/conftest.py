"""The real-stack fixtures (``stack``, ``stack_binaries`` of :mod:`tests.stack.fixtures`) for the tests here.

Imported per folder, like tests/stack/conftest.py does: a session running both folders starts one stack for each.
Importing the fixtures once in tests/conftest.py instead (and dropping both folder imports) would share one stack.
"""

from __future__ import annotations

from tests.stack.fixtures import stack, stack_binaries

__all__ = ["stack", "stack_binaries"]
