"""``otel-chatbot ui`` (its errors in plain words, and a real run) and ``otel-chatbot report --html FILE``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from otel_chatbot.cli._main import main
from otel_chatbot.stats._snapshot import StatsSnapshot, UsageBreakdown, UsageStats
from otel_chatbot.ui._assets import asset, render_standalone
from otel_chatbot.ui._view import view_document
from tests._servers import serve_json
from tests.unit.ui.test_view import slow_generation

REPO = Path(__file__).resolve().parents[3]


def dump(tmp_path: Path, snap: StatsSnapshot | None = None) -> Path:
    path = tmp_path / "stats.json"
    (snap or slow_generation()).dump(path)
    return path


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["ui"], "give exactly one source"),
        (["ui", "a.json", "--url", "http://127.0.0.1:1"], "give exactly one source"),
        (["ui", "--jaeger", "http://127.0.0.1:16686"], "--jaeger / --prometheus need --service NAME"),
        (["ui", "http://127.0.0.1:8000"], "is a URL, not a file: use --url http://127.0.0.1:8000"),
        (["ui", "x.json", "--since", "soon"], "soon"),
    ],
)
def test_argument_mistakes_exit_2(argv: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("otel-chatbot ui: ") and words in err
    assert "Traceback" not in err


def test_unreadable_sources_exit_1_naming_the_file_or_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    assert main(["ui", str(missing)]) == 1
    assert f"the file {missing}: no such file" in capsys.readouterr().err
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json", encoding="utf-8")
    assert main(["ui", str(garbage)]) == 1
    assert f"the file {garbage} is not JSON (line 1, column 2)" in capsys.readouterr().err
    assert main(["ui", "--url", "http://127.0.0.1:1"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the app at http://127.0.0.1:1" in err and "urlopen" not in err


def test_url_reads_a_mounted_view_else_metrics_latency() -> None:
    from otel_chatbot.cli._ui import _url_view

    snap = slow_generation()
    mounted = view_document(snap, source="embedded bot")

    def app(path: str, query: object, body: bytes) -> tuple[int, object]:
        if path == "/otel-chatbot/api/view":
            return 200, mounted
        return 404, {"detail": "Not Found"}

    with serve_json(app) as url:
        doc = _url_view(url)
    assert doc["source"] == f"{url.rstrip('/')}/otel-chatbot/api/view (embedded bot)"
    assert doc["snapshot"] == json.loads(json.dumps(mounted["snapshot"]))

    def bare(path: str, query: object, body: bytes) -> tuple[int, object]:
        if path == "/metrics/latency":
            return 200, snap.latency_json()
        return 404, {"detail": "Not Found"}

    with serve_json(bare) as url:
        doc = _url_view(url)
    assert {s["stage"] for s in doc["snapshot"]["stages"]} == set(snap.latency_json())


def test_ui_serves_a_dump_file_from_a_real_process(tmp_path: Path) -> None:
    path = dump(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_chatbot", "ui", str(path), "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/) \(Ctrl-C to stop\)", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        with urllib.request.urlopen(match.group(1) + "api/view", timeout=10) as response:
            doc = json.loads(response.read())
        assert doc["source"] == str(path)
        assert StatsSnapshot.from_dict(doc["snapshot"]).stage("generation") is not None
        # The file is read again on each load: a new dump shows without a restart.
        dump(tmp_path, StatsSnapshot(service_name="later", generated_at=2.0))
        with urllib.request.urlopen(match.group(1) + "api/view", timeout=10) as response:
            assert json.loads(response.read())["snapshot"]["service_name"] == "later"
    finally:
        proc.terminate()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_report_html_writes_one_self_contained_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(dump(tmp_path)), "--html", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    # Nothing is loaded from elsewhere: no src/href to a URL, no <link> but the empty data: icon, no <script src>.
    assert re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page) == []
    assert re.findall(r"<link[^>]*>", page) == ['<link rel="icon" href="data:,">'] and "<script src" not in page
    assert asset("vendor/uPlot.iife.min.js").decode() in page
    assert asset("app.js").decode() in page
    data = re.search(r'<script type="application/json" id="otel-chatbot-view">(.*?)</script>', page, re.S)
    assert data is not None
    doc = json.loads(data.group(1))
    assert StatsSnapshot.from_dict(doc["snapshot"]).stage("generation") is not None
    assert any(r["rule"] == "generation_share" for r in doc["recommendations"])


def test_report_html_to_a_folder_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "no" / "report.html"
    assert main(["report", str(dump(tmp_path)), "--html", str(out)]) == 1
    assert f"cannot write {out}: No such file or directory" in capsys.readouterr().err


def test_data_that_looks_like_markup_stays_data() -> None:
    evil = "</script><script>alert(1)</script><!--"
    snap = StatsSnapshot(
        service_name=evil,
        generated_at=1.0,
        usage=UsageBreakdown(by_user=(UsageStats(evil, 1, 1, 1, 0, 0.1),)),
    )
    page = render_standalone(view_document(snap))
    data = re.search(r'<script type="application/json" id="otel-chatbot-view">(.*?)</script>', page, re.S)
    assert data is not None
    assert "</script><script>alert" not in page  # the inline data element is not ended early
    assert json.loads(data.group(1))["snapshot"]["service_name"] == evil


def test_the_stack_source_reads_jaeger_and_prometheus() -> None:
    import argparse

    from otel_chatbot.cli._ui import _stack_view

    asked: list[str] = []

    def stack(path: str, query: object, body: bytes) -> tuple[int, object]:
        asked.append(path)
        if path == "/api/traces":
            return 200, {"data": []}
        if path.startswith("/api/v1/query"):
            return 200, {"status": "success", "data": {"resultType": "vector", "result": []}}
        return 404, {}

    with serve_json(stack) as url:
        args = argparse.Namespace(file=None, url=None, jaeger=url, prometheus=url, service="bot", limit=10)
        doc = _stack_view(args, 3600.0)
    assert "/api/traces" in asked and "/api/v1/query_range" in asked
    assert doc["source"] == f"Jaeger at {url} and Prometheus at {url}"
    assert doc["snapshot"]["service_name"] == "bot"
    assert json.loads(json.dumps(doc))["snapshot"]["history"] == []
