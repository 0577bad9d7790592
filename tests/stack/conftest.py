"""Stack fixtures for tests under tests/stack/ (defined in :mod:`tests.stack.fixtures`; see its docstring).

Tests elsewhere get the SAME session stack by importing the fixtures into ``tests/conftest.py`` instead::

    from tests.stack.fixtures import stack, stack_binaries  # noqa: F401
"""

from tests.stack.fixtures import stack, stack_binaries

__all__ = ["stack", "stack_binaries"]
