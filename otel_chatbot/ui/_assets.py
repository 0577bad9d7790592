"""The web view's static files, shipped in the package, and the two ways its page is written out.

``render_index(base)`` is the page a server answers at ``<base>/``: it loads ``<base>/static/...`` and fetches
``<base>/api/view``. ``render_standalone(doc)`` is the same page as one self-contained file (``report --html``): the
CSS, the JavaScript, the charting library and the view document are inlined, so it works offline, alone.
"""

from __future__ import annotations

import html
import json
import re
import sys
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_chatbot.report._recommendations import Recommendation
    from otel_chatbot.stats._snapshot import StatsSnapshot

__all__ = ["ASSETS", "asset", "content_type", "render_index", "render_standalone", "write_standalone"]

_STYLES = ("vendor/uPlot.min.css", "app.css")
_SCRIPTS = ("vendor/uPlot.iife.min.js", "app.js")
ASSETS = frozenset((*_STYLES, *_SCRIPTS, "vendor/uPlot.LICENSE"))
"""The files served under ``<base>/static/`` (nothing else is)."""

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


def asset(name: str) -> bytes:
    """The bytes of ``static/<name>``.

    Raises:
        KeyError: ``name`` is not one of ``ASSETS``.
    """
    if name not in ASSETS and name != "index.html":
        raise KeyError(name)
    return resources.files("otel_chatbot.ui").joinpath("static", *name.split("/")).read_bytes()


def content_type(name: str) -> str:
    """The Content-Type of an asset (plain text for the licence)."""
    dot = name.rfind(".")
    return _TYPES.get(name[dot:] if dot >= 0 else "", "text/plain; charset=utf-8")


def _page(base: str, head: str, body_end: str) -> str:
    template = asset("index.html").decode("utf-8")
    return (
        template.replace("{{base}}", html.escape(base, quote=True))
        .replace("{{head}}", head)
        .replace("{{body_end}}", body_end)
    )


def render_index(base: str = "") -> str:
    """The page served at ``<base>/`` (``base`` is the mount path without its trailing slash, "" at the root)."""
    prefix = html.escape(base.rstrip("/"), quote=True)
    head = "\n".join(f'<link rel="stylesheet" href="{prefix}/static/{name}">' for name in _STYLES)
    body_end = "\n".join(f'<script src="{prefix}/static/{name}"></script>' for name in _SCRIPTS)
    return _page(base.rstrip("/"), head, body_end)


def _inline_script(text: str) -> str:
    # A "</script" inside would end the element early; "<\/" means the same in JavaScript strings and JSON.
    return re.sub("</(script)", r"<\\/\1", text, flags=re.IGNORECASE).replace("<!--", "<\\!--")


def render_standalone(document: dict[str, Any]) -> str:
    """One self-contained HTML file: the view ``document`` with the page's CSS, JavaScript and charting library."""
    head = "\n".join(f"<style>\n{asset(name).decode('utf-8')}\n</style>" for name in _STYLES)
    data = json.dumps(document, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\u0021--")
    scripts = [f'<script type="application/json" id="otel-chatbot-view">{data}</script>']
    scripts += [f"<script>\n{_inline_script(asset(name).decode('utf-8'))}\n</script>" for name in _SCRIPTS]
    return _page("", head, "\n".join(scripts))


def write_standalone(path: str, snapshot: StatsSnapshot, recommendations: Sequence[Recommendation]) -> int:
    """``report --html FILE``: write the standalone page; returns the exit code (1 with a message when unwritable)."""
    from otel_chatbot.ui._view import view_document

    page = render_standalone(view_document(snapshot, recommendations=recommendations))
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(page)
    except OSError as exc:
        print(f"otel-chatbot report: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"otel-chatbot report: wrote {path} ({len(page) // 1024} KiB; open it in a browser, it works offline)")
    return 0
