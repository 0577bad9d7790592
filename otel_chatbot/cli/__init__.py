"""The ``otel-chatbot`` command line (``report``, ``usage``, ``stack``, ``pricing``).

Example::

    from otel_chatbot.cli import main

    main(["report", "report.json", "--format", "markdown"])
"""

from __future__ import annotations

from otel_chatbot.cli._main import main

__all__ = ["main"]
