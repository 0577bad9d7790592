"""``otel-chatbot stack build | up | down | status``: the native Collector / Jaeger v2 / Prometheus stack.

Example::

    otel-chatbot stack up        # build or reuse the binaries, start all three on loopback, wait until healthy
    otel-chatbot stack status    # which of them run and answer
    otel-chatbot stack down      # stop exactly the processes `up` started

It works from any folder after ``pip install``: the configs, rules and dashboard ship in the package (a copy of the
repository's ``collector/``; ``$OTEL_CHATBOT_COLLECTOR_DIR`` points elsewhere). Binaries are built in and reused from
``$OTEL_CHATBOT_CACHE`` (default ``${XDG_CACHE_HOME:-~/.cache}/otel-chatbot``); pids, logs and Prometheus data live in
the run folder (``--run-dir``, else ``$OTEL_CHATBOT_STACK_RUN_DIR``, else
``${XDG_STATE_HOME:-~/.local/state}/otel-chatbot/stack``). Prometheus must be installed (Debian's ``prometheus``
package, or ``$OTEL_CHATBOT_PROMETHEUS_BINARY``). Every listening address is an ``OTEL_CHATBOT_*`` variable
(:mod:`otel_chatbot.env`). Versions are pinned in :mod:`otel_chatbot.stack._versions`.
"""

from __future__ import annotations

from otel_chatbot.stack._build import Binaries, ensure_all
from otel_chatbot.stack._errors import StackError
from otel_chatbot.stack._native import RunningStack, load_stack, start_stack, stop_stack
from otel_chatbot.stack._ports import StackPorts

__all__ = [
    "Binaries",
    "RunningStack",
    "StackError",
    "StackPorts",
    "ensure_all",
    "load_stack",
    "start_stack",
    "stop_stack",
]
