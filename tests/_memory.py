"""Memory measurements that only the code under test can move: each runs in a fresh Python process.

``tracemalloc.get_traced_memory()`` and ``sys.getallocatedblocks()`` count every thread of the process, so inside the
test session a thread of another test (an OTLP exporter retrying in the background) could fail a bound that the code
under test keeps. In a new interpreter that runs nothing but the measurement, no other thread exists.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
_RUN = """
import threading
from {module} import {name} as measure
result = measure()
assert threading.active_count() == 1, threading.enumerate()
print(result)
"""


def measure_alone(measure: Callable[[], int]) -> int:
    """Run ``measure`` (a module-level function of a test module) in a new interpreter; return what it returns."""
    code = _RUN.format(module=measure.__module__, name=measure.__qualname__)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=_REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stdout.split()[-1])
