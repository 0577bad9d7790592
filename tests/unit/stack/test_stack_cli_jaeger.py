"""``stack up`` / ``stack status`` say which Jaeger runs, and where to look when it has no UI; errors are one line.

Which Jaeger runs is asked of a real HTTP server on loopback serving either the placeholder page of a source build
(Jaeger's own text) or a UI page, beside the ``install.json`` record of the cache.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from otel_chatbot import cli
from otel_chatbot.cli import _stack
from otel_chatbot.stack import _jaeger as jaeger
from otel_chatbot.stack import _jaeger_release as release
from otel_chatbot.stack import _runner as runner

PLACEHOLDER = f"<html><body><h1>{jaeger.PLACEHOLDER_TEXT}!</h1></body></html>"
UI_PAGE = '<html><head><title>Jaeger UI</title></head><body><div id="jaeger-ui-root"></div></body></html>'


@pytest.fixture
def page() -> Iterator[tuple[str, list[str]]]:
    """A loopback server answering ``/`` with the page in the returned list (set it before asking)."""
    body: list[str] = [PLACEHOLDER]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = body[0].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", body
    server.shutdown()
    server.server_close()
    thread.join()


def _running(tmp_path: Path, jaeger_url: str, kind: str) -> SimpleNamespace:
    folder = tmp_path / "jaeger" / kind
    folder.mkdir(parents=True)
    (folder / "jaeger").write_text("#!/bin/sh\n")
    release.write_marker(folder, release.JaegerInstall(kind=kind, version="2.20.0", origin="test"))
    return SimpleNamespace(
        binaries=SimpleNamespace(jaeger=folder / "jaeger"),
        jaeger_url=jaeger_url,
        prometheus_url="http://127.0.0.1:19090",
        config_dir=tmp_path / "collector",
    )


def test_a_source_build_points_to_the_web_view_and_docker_compose(
    tmp_path: Path, page: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = page
    _stack._print_jaeger(_running(tmp_path, url, "source"))  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "Jaeger 2.20.0, source build (no UI)" in out and f"{url} shows a placeholder page" in out
    assert f"otel-chatbot ui --jaeger {url} --prometheus http://127.0.0.1:19090 --service NAME" in out
    assert "Monitor tab's figures" in out and "otel-chatbot stack build` when online" in out
    assert f"docker compose -f {tmp_path / 'collector' / 'docker-compose.yaml'} up -d" in out


def test_the_release_says_so_and_needs_no_pointers(
    tmp_path: Path, page: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, body = page
    body[0] = UI_PAGE
    _stack._print_jaeger(_running(tmp_path, url, "release"))  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "Jaeger 2.20.0, release (UI)" in out and "placeholder" not in out and "docker compose" not in out
    assert f"web view            otel-chatbot ui --jaeger {url}" in out


def test_the_running_jaeger_is_asked_and_the_record_used_when_it_is_down(
    tmp_path: Path, page: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, body = page
    assert jaeger.serves_ui(url) is False
    body[0] = UI_PAGE
    assert jaeger.serves_ui(url) is True
    assert jaeger.serves_ui("http://127.0.0.1:1") is None  # nothing listens on port 1

    body[0] = PLACEHOLDER  # the page wins over the record: a binary recorded as the release but serving no UI
    _stack._print_jaeger(_running(tmp_path / "a", url, "release"))  # type: ignore[arg-type]
    assert "shows a placeholder page" in capsys.readouterr().out
    _stack._print_jaeger(_running(tmp_path / "b", "http://127.0.0.1:1", "release"))  # type: ignore[arg-type]
    out = capsys.readouterr().out  # Jaeger down: the record says it
    assert "release (UI)" in out and "placeholder" not in out and "docker compose" not in out


def test_an_unreadable_pids_file_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / runner.PIDS_FILE).write_text("{not json")
    assert cli.main(["stack", "status", "--run-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{tmp_path / runner.PIDS_FILE} is not a record that `otel-chatbot stack up` wrote" in err
    assert "then delete it" in err


def test_a_run_folder_that_cannot_be_used_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert cli.main(["stack", "down", "--run-dir", str(blocker / "run")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"otel-chatbot stack down: cannot use {blocker / 'run'}" in err and "--run-dir" in err
