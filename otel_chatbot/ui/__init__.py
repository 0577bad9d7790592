"""The web view: latency, cost, traces and conversations in a browser, from a snapshot (no server needed to read it).

Example::

    tel = oc.configure("support-bot")
    tel.mount_ui(app)  # GET /otel-chatbot/ in the app, protected by the dependencies you pass

    # or, outside the app:  otel-chatbot ui stats.json  |  otel-chatbot report stats.json --html report.html

The page is one single-page app (``static/``: index.html, app.js, app.css and the vendored uPlot charting library);
it reads the view document from ``<base>/api/view`` or, in a standalone file, from an inlined ``<script>``.
"""

from __future__ import annotations

from otel_chatbot.ui._assets import render_standalone
from otel_chatbot.ui._view import view_document

__all__ = ["render_standalone", "view_document"]
