"""The OTLP export buffer against a real in-process receiver (gRPC and HTTP): nothing lost across an outage,
bounded, counted when it must drop, left on disk at shutdown for the next start.

Each test takes 1-12 s (most of it waiting for the buffer's backoff to meet the receiver coming up).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace

import otel_chatbot as oc
from otel_chatbot import _losses, env
from otel_chatbot._state import STATE
from otel_chatbot.stats._exposition import render_prometheus
from tests._http import eventually
from tests._otlp_receiver import OtlpReceiver
from tests._servers import free_port

PROTOCOLS = ("grpc", "http/protobuf")


@pytest.fixture(autouse=True)
def _fast_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    # Spans go out only at force_flush: one export request per flush, so the counts of files and requests are exact
    # (a short schedule delay let the worker's timer split a batch now and then).
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")


@pytest.fixture(params=PROTOCOLS)
def receiver(request: pytest.FixtureRequest) -> Iterator[OtlpReceiver]:
    with OtlpReceiver(request.param) as r:
        yield r


def _buffer_root() -> Path:
    return Path(os.environ[env.OTEL_CHATBOT_EXPORT_BUFFER])


def _files(pattern: str = "t-*.otlp") -> list[Path]:
    return sorted(_buffer_root().glob(f"*/{pattern}"))


def _spans(tel: oc.Telemetry, names: list[str], per_batch: int = 10) -> None:
    """End one span per name, flushing every ``per_batch`` (one export request each)."""
    tracer = trace.get_tracer("test")
    for i, name in enumerate(names):
        with tracer.start_as_current_span(name):
            pass
        if (i + 1) % per_batch == 0:
            tel.force_flush()
    tel.force_flush()


def _configure(receiver: OtlpReceiver, **kwargs: object) -> oc.Telemetry:
    return oc.configure("buffer-test", endpoint=receiver.endpoint, protocol=receiver.protocol, **kwargs)  # type: ignore[arg-type]


def test_spans_made_while_the_endpoint_is_down_arrive_once_in_order_when_it_comes_up(receiver: OtlpReceiver) -> None:
    tel = _configure(receiver, embedded=False)
    try:
        names = [f"s{i}" for i in range(30)]
        _spans(tel, names)
        assert len(_files()) == 3  # three requests on disk, nothing sent
        receiver.start()
        arrived = eventually(lambda: receiver.span_names() if len(receiver.span_names()) >= 30 else None, 20, 0.1)
        assert arrived == names  # all, in order
        assert len(set(receiver.span_ids())) == 30  # no duplicates
        assert eventually(lambda: True if not _files() else None, 5, 0.1)  # delivered files are deleted
        # the buffer is empty again: new spans go straight out
        _spans(tel, ["after"])
        assert eventually(lambda: True if "after" in receiver.span_names() else None, 5, 0.05)
        assert not _losses.totals()
    finally:
        assert tel.shutdown(timeout=5)


def test_an_endpoint_that_refuses_then_accepts_gets_every_span_once(receiver: OtlpReceiver) -> None:
    receiver.refuse = True  # UNAVAILABLE / 503
    receiver.start()
    tel = _configure(receiver, embedded=False)
    try:
        names = [f"r{i}" for i in range(25)]
        _spans(tel, names)
        assert receiver.refused >= 1 and not receiver.span_ids()
        receiver.refuse = False
        arrived = eventually(lambda: receiver.span_names() if len(receiver.span_names()) >= 25 else None, 20, 0.1)
        assert arrived == names
        assert len(set(receiver.span_ids())) == 25
    finally:
        assert tel.shutdown(timeout=5)


def test_a_full_buffer_drops_the_oldest_and_counts_them(receiver: OtlpReceiver) -> None:
    tel = _configure(receiver, export_buffer_size_mb=0.004)  # ~4 KB: a few requests of 10 spans
    try:
        names = [f"b{i}" for i in range(200)]
        _spans(tel, names)
        assert sum(f.stat().st_size for f in _files()) <= 0.004 * 2**20
        assert 0 < _losses.totals()[("spans", "buffer_full")] < 200
        receiver.start()  # (the metrics files written meanwhile may push out more trace files: counted too)
        assert eventually(
            lambda: len(receiver.span_names()) + _losses.totals()[("spans", "buffer_full")] == 200 or None, 20, 0.1
        )
        dropped = _losses.totals()[("spans", "buffer_full")]
        arrived = receiver.span_names()
        assert arrived == [n for n in names if n in set(arrived)]  # in order, no duplicates
        assert arrived[-30:] == names[-30:]  # the newest survive; the oldest were dropped (but the one in flight)
        assert len(set(arrived) - set(names[100:])) <= 10  # (one old request may have been in flight)
        text = render_prometheus(tel.report())
        labels = 'service_name="buffer-test",reason="buffer_full",signal="spans"'
        line = f"chatbot_telemetry_dropped_total{{{labels}}} {dropped}"
        assert line in text
        # the same count goes out with the OTLP metrics
        sent = eventually(lambda: (v := receiver.sums(_losses.INSTRUMENT)) and v[-1] == dropped or None, 10, 0.1)
        assert sent
    finally:
        assert tel.shutdown(timeout=5)


def test_the_newest_cumulative_metrics_survive_an_outage(receiver: OtlpReceiver) -> None:
    tel = _configure(receiver)
    try:
        for total in (3, 7, 12):  # a cumulative counter growing during the outage
            _losses.record_dropped("attributes", "invalid_value", total - sum(_losses.totals().values()))
            tel._metrics.force_flush()  # type: ignore[union-attr]
        assert [f.name for f in _files("m-*.otlp")] == ["m-latest.otlp"]  # one file: the newest replaces the rest
        receiver.start()
        values = eventually(lambda: receiver.sums(_losses.INSTRUMENT) or None, 15, 0.1)
        assert eventually(lambda: receiver.sums(_losses.INSTRUMENT)[-1] == 12 or None, 10, 0.1)
        values = receiver.sums(_losses.INSTRUMENT)
        # never an older total after a newer one (a counter reset to Prometheus); at most one in-flight older one
        # (read by the buffer's thread just before the newest replaced it) arrives first
        assert values == sorted(values)
        assert len([v for v in values if v < 12]) <= 1
    finally:
        assert tel.shutdown(timeout=5)


def test_shutdown_while_the_endpoint_is_down_leaves_the_files_for_the_next_start(receiver: OtlpReceiver) -> None:
    tel = _configure(receiver, embedded=False)
    names = [f"k{i}" for i in range(20)]
    _spans(tel, names)
    assert tel.shutdown(timeout=3)
    assert len(_files()) == 2  # kept on disk, not counted as lost
    assert ("spans", "shutdown") not in _losses.totals()
    receiver.start()
    tel = _configure(receiver, embedded=False)  # the next start, same folder: adopts and replays
    try:
        arrived = eventually(lambda: receiver.span_names() if len(receiver.span_names()) >= 20 else None, 20, 0.1)
        assert arrived == names
    finally:
        assert tel.shutdown(timeout=5)
    assert not _files()


def test_a_request_refused_as_too_large_is_split_until_taken_and_single_spans_still_refused_counted(
    receiver: OtlpReceiver,
) -> None:
    receiver.start()
    receiver.reject_over = 2000  # bytes
    tel = _configure(receiver, embedded=False)
    try:
        tracer = trace.get_tracer("test")
        for i in range(10):  # ~250 bytes each: 10 are over the limit, 5 under
            tracer.start_span(f"x{i}", attributes={"pad": "p" * 200}).end()
        tel.force_flush()
        assert eventually(lambda: len(receiver.span_ids()) == 10 or None, 10, 0.05)
        assert len(receiver.trace_requests) == 2  # refused whole, taken in two halves
        big = trace.get_tracer("test").start_span("big", attributes={"blob": "x" * 4000})
        big.end()
        tel.force_flush()
        assert eventually(lambda: _losses.totals().get(("spans", "too_large")) == 1 or None, 10, 0.05)
        assert not _files()  # refused for good: never buffered
        receiver.reject_over = 900  # about 3 spans a request: halved again and again
        for i in range(16):
            tracer.start_span(f"y{i}", attributes={"pad": "p" * 200}).end()
        tel.force_flush()
        names = [f"y{i}" for i in range(16)]
        assert eventually(lambda: [n for n in receiver.span_names() if n.startswith("y")] == names or None, 10, 0.05)
        assert _losses.totals().get(("spans", "too_large")) == 1  # nothing more lost
    finally:
        assert tel.shutdown(timeout=5)


def test_a_9_mib_batch_reaches_a_real_grpc_receiver_with_its_default_4_mib_limit() -> None:
    with OtlpReceiver("grpc") as receiver:  # grpc.server(): max_receive_message_length 4 MiB
        receiver.start()
        tel = _configure(receiver, embedded=False, max_attribute_length=400_000)
        try:
            tracer = trace.get_tracer("test")
            names = [f"big{i}" for i in range(30)]
            for name in names:  # 30 x 320 kB: one batch of ~9.2 MiB
                tracer.start_span(name, attributes={"blob": "x" * 320_000}).end()
            tel.force_flush()
            assert eventually(lambda: receiver.span_names() == names or None, 20, 0.1)
            assert not _losses.totals()  # nothing refused, nothing dropped
            assert max(len(r.SerializeToString()) for r in receiver.trace_requests) <= 4 * 2**20
        finally:
            assert tel.shutdown(timeout=5)


def test_buffer_off_counts_what_the_sdk_exporter_fails_to_send(receiver: OtlpReceiver) -> None:
    tel = _configure(receiver, embedded=False, export_buffer="off", export_timeout=0.5)
    try:
        _spans(tel, [f"o{i}" for i in range(5)])
        assert eventually(lambda: _losses.totals().get(("spans", "buffer_off")) == 5 or None, 10, 0.1)
        assert not list(_buffer_root().iterdir())  # nothing on disk
    finally:
        tel.shutdown(timeout=3)


def test_an_unwritable_buffer_mid_run_is_logged_and_counted_and_spans_still_end(
    receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No periodic metrics export: its own buffer_full would be the minute's first summary line, before the spans'.
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "600000")
    tel = _configure(receiver, embedded=False)
    try:
        root = _buffer_root()
        shutil.rmtree(root)  # the disk went away under the running app (root ignores file modes)...
        root.write_text("")  # ...and a file took its place: the folder cannot be made again
        with caplog.at_level(logging.WARNING, logger="otel_chatbot"):
            _spans(tel, [f"u{i}" for i in range(10)])  # the app's code runs on; nothing raises
        assert _losses.totals().get(("spans", "buffer_full")) == 10
        assert any("cannot write to the export buffer" in r.getMessage() for r in caplog.records)
        assert any("telemetry dropped in the last 60 s: spans buffer_full=10" in r.getMessage() for r in caplog.records)
    finally:
        assert tel.shutdown(timeout=5)
        root.unlink()


def test_a_subfolder_removed_mid_run_is_made_again_and_what_went_with_it_counted(
    receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    tel = _configure(receiver, embedded=False)
    try:
        _spans(tel, [f"gone{i}" for i in range(10)])  # the endpoint is down: one request on disk
        (folder,) = [p for p in _buffer_root().iterdir() if p.is_dir()]
        shutil.rmtree(folder)  # rm -rf under the running app
        with caplog.at_level(logging.WARNING, logger="otel_chatbot"):
            _spans(tel, [f"kept{i}" for i in range(20)])
        assert len(_files()) == 2  # the later requests are on disk again, in the same subfolder
        assert folder.is_dir() and (folder / "lock").exists()
        assert _losses.totals().get(("spans", "buffer_full")) == 10  # the 10 that went with the folder
        assert any("was removed while in use" in r.getMessage() for r in caplog.records)
        receiver.start()
        arrived = eventually(lambda: receiver.span_names() if len(receiver.span_names()) >= 20 else None, 20, 0.1)
        assert arrived == [f"kept{i}" for i in range(20)]
    finally:
        assert tel.shutdown(timeout=5)


def test_buffer_folders_and_files_are_owner_only(receiver: OtlpReceiver, tmp_path: Path) -> None:
    root = tmp_path / "new" / "buffer"
    old_umask = os.umask(0o022)
    try:
        tel = _configure(receiver, export_buffer=root)
        try:
            _spans(tel, [f"p{i}" for i in range(10)])
            tel._metrics.force_flush()  # type: ignore[union-attr]
            (folder,) = [p for p in root.iterdir() if p.is_dir()]
            files = list(folder.iterdir())
            assert {f.name for f in files} >= {"lock", "m-latest.otlp"} and any(f.name.startswith("t-") for f in files)
            for path in (tmp_path / "new", root, folder):
                assert path.stat().st_mode & 0o777 == 0o700, path
            for path in files:
                assert path.stat().st_mode & 0o777 == 0o600, path
        finally:
            assert tel.shutdown(timeout=3)
    finally:
        os.umask(old_umask)


def test_the_sdk_queue_s_drops_are_counted(monkeypatch: pytest.MonkeyPatch, receiver: OtlpReceiver) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "8")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    receiver.start()
    tel = _configure(receiver, embedded=False)
    try:
        tracer = trace.get_tracer("test")
        for i in range(300):
            with tracer.start_as_current_span(f"q{i}"):
                pass
        tel.force_flush()
        assert eventually(lambda: receiver.span_ids() or None, 5, 0.1)
        delivered = len(receiver.span_ids())
        dropped = _losses.totals().get(("spans", "queue_full"), 0)
        assert dropped > 0
        # Every span arrived or was counted. The SDK counts a drop when it finds its queue full, and its worker may
        # take a batch out before the span goes in: its count (ours) can exceed the real losses by a few, never less.
        assert 300 <= delivered + dropped <= 310
    finally:
        assert tel.shutdown(timeout=5)


@pytest.mark.parametrize(
    ("kwargs", "variables", "message"),
    [
        ({"export_buffer_size_mb": -1}, {}, "export_buffer_size_mb=-1 is not valid"),
        ({}, {env.OTEL_CHATBOT_EXPORT_BUFFER_SIZE_MB: "0"}, "OTEL_CHATBOT_EXPORT_BUFFER_SIZE_MB='0' is not valid"),
        ({}, {env.OTEL_CHATBOT_EXPORT_BUFFER_SIZE_MB: "lots"}, "OTEL_CHATBOT_EXPORT_BUFFER_SIZE_MB='lots'"),
        (
            {},
            {env.OTEL_CHATBOT_EXPORT_BUFFER: "{file}"},
            "OTEL_CHATBOT_EXPORT_BUFFER: the export buffer folder .* is a file",
        ),
        ({"export_buffer": "{file}/sub"}, {}, "export_buffer: the export buffer folder .* cannot be created"),
    ],
)
def test_bad_buffer_settings_name_themselves_and_change_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kwargs: dict[str, object], variables: dict[str, str], message: str
) -> None:
    file = tmp_path / "a-file"
    file.write_text("")
    for name, value in variables.items():
        monkeypatch.setenv(name, value.replace("{file}", str(file)))
    kwargs = {k: v.replace("{file}", str(file)) if isinstance(v, str) else v for k, v in kwargs.items()}
    with pytest.raises(oc.ConfigurationError, match=message):
        oc.configure("bot", endpoint=f"http://127.0.0.1:{free_port()}", **kwargs)  # type: ignore[arg-type]
    assert STATE.installed is None


def test_the_default_folder_is_in_the_xdg_state_home_per_service(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from otel_chatbot.telemetry._otlp import buffer_settings

    monkeypatch.delenv(env.OTEL_CHATBOT_EXPORT_BUFFER)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    settings = buffer_settings(None, None, "my bot/1")
    assert settings is not None
    assert settings.folder == tmp_path / "otel-chatbot" / "export-buffer" / "my_bot_1"
    assert settings.max_bytes == 256 * 2**20
    assert buffer_settings("off", None, "x") is None
    monkeypatch.setenv(env.OTEL_CHATBOT_EXPORT_BUFFER, "OFF")
    assert buffer_settings(None, None, "x") is None
    assert buffer_settings(tmp_path / "b", 0.5, "x") == type(settings)(tmp_path / "b", 2**19)  # the argument wins


def test_the_summary_line_is_written_at_most_once_a_minute_and_only_after_drops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    losses = _losses.Losses(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="otel_chatbot"):
        losses.record("spans", "buffer_full", 1200)  # the first drop: said at once
        now[0] += 10
        losses.record("attributes", "invalid_value", 3)
        now[0] += 20
        losses.record("spans", "buffer_full", 5)
        losses.flush_log()
        lines = [r.getMessage() for r in caplog.records]
        assert lines == ["otel_chatbot: telemetry dropped in the last 60 s: spans buffer_full=1200"]
        now[0] += 31  # the minute is over: what was dropped since, in one line
        losses.flush_log()
        now[0] += 300  # nothing dropped since: nothing said
        losses.flush_log()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[1:] == [
        "otel_chatbot: telemetry dropped in the last 60 s: attributes invalid_value=3, spans buffer_full=5"
    ]
    assert losses.totals() == {("spans", "buffer_full"): 1205, ("attributes", "invalid_value"): 3}
    assert all(r.levelno == logging.WARNING and r.name == "otel_chatbot" for r in caplog.records)


def test_record_dropped_never_raises_and_counts_before_configure() -> None:
    _losses.record_dropped("spans", "queue_full", 2)
    _losses.record_dropped("spans", "queue_full", "x")  # type: ignore[arg-type]
    _losses.record_dropped("spans", "queue_full", 0)
    tel = oc.configure("early")  # CallMetrics made after the drop: the count is still shown
    try:
        assert 'chatbot_telemetry_dropped_total{service_name="early",reason="queue_full",signal="spans"} 2' in (
            render_prometheus(tel.report())
        )
    finally:
        tel.shutdown(timeout=3)


def test_a_forked_worker_buffers_apart_and_a_replacing_configure_takes_everything_over() -> None:
    with OtlpReceiver("http/protobuf") as receiver:  # (gRPC's core does not survive a fork without its fork support)
        tel = _configure(receiver, embedded=False)
        parent = [f"parent-{i}" for i in range(10)]
        child = [f"child-{i}" for i in range(10)]
        _spans(tel, parent)
        pid = os.fork()
        if pid == 0:  # the worker of a preloading server: its own subfolder, its parent's files untouched
            try:
                _spans(tel, child)
                tel.shutdown(timeout=2)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        folders = [p for p in _buffer_root().iterdir() if p.is_dir()]
        assert len(folders) == 2
        assert sorted(len(list(f.glob("t-*.otlp"))) for f in folders) == [1, 1]
        receiver.start()
        # configure() again: the new exporter adopts the dead worker's folder at once, and the replaced one's files
        # when configure() shuts it down (same process, same folder)
        tel2 = _configure(receiver, embedded=False)
        try:
            arrived = eventually(lambda: receiver.span_names() if len(receiver.span_names()) >= 20 else None, 20, 0.1)
            assert arrived is not None
            assert [n for n in arrived if n.startswith("parent-")] == parent
            assert [n for n in arrived if n.startswith("child-")] == child
            assert len(set(receiver.span_ids())) == 20
        finally:
            assert tel2.shutdown(timeout=5)
        tel.shutdown(timeout=1)


def test_corrupt_files_left_by_a_dead_process_are_logged_once_counted_and_removed(
    receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    tel = _configure(receiver, embedded=False)
    _spans(tel, [f"ok{i}" for i in range(10)])
    assert tel.shutdown(timeout=3)  # the endpoint is down: one good file stays
    (folder,) = [p for p in _buffer_root().iterdir() if p.is_dir()]
    (folder / "t-000000000007-4.otlp").write_bytes(b"\xff\x00 not a protobuf request \x13" * 10)
    (folder / "t-000000000008-3.otlp").write_bytes(b"")  # a power cut: renamed, never written
    (folder / "t-000000000009-2.otlp").write_bytes(b"\x0a\xff\xff\xff")  # truncated
    receiver.start()
    with caplog.at_level(logging.WARNING, logger="otel_chatbot"):
        tel = _configure(receiver, embedded=False)
        try:
            assert eventually(lambda: len(receiver.span_ids()) == 10 or None, 20, 0.1)
            assert eventually(lambda: _losses.totals().get(("spans", "invalid_value")) == 4 + 3 + 2 or None, 10, 0.1)
            assert eventually(lambda: not _files() or None, 5, 0.1)
        finally:
            assert tel.shutdown(timeout=5)
    assert len([r for r in caplog.records if "is corrupt" in r.getMessage()]) == 1  # logged once


def test_a_subfolder_left_half_made_by_a_dead_process_is_removed(tmp_path: Path) -> None:
    from otel_chatbot.telemetry._buffer import DiskBuffer

    stale = tmp_path / ".1-2-abcdef01"
    stale.mkdir()
    (stale / "lock").write_text("")
    os.utime(stale, (0, 0))  # created long ago
    fresh = tmp_path / ".3-4-abcdef02"
    fresh.mkdir()  # being created by a live process right now: left alone
    (fresh / "lock").write_text("")
    buffer = DiskBuffer(tmp_path, 2**20)
    try:
        assert buffer.adopt() == 0
        assert not stale.exists()
        assert fresh.exists()
    finally:
        buffer.close()


_PROBE_SERVICE = "fixbuf-module-probe"
_PROBE = (
    "import sys, otel_chatbot as oc\n"
    "from opentelemetry import trace\n"
    "tel = oc.configure(sys.argv[1], endpoint=sys.argv[2], embedded=False)\n"
    "trace.get_tracer('probe').start_span('probe').end()\n"
    "tel.shutdown(timeout=2)\n"
)


@pytest.fixture(scope="module")
def module_app_buffer() -> Iterator[tuple[str | None, list[Path]]]:
    """Like the fixtures that start apps once per module (set up before any function-scoped fixture): an app whose
    endpoint is down; yields the buffer variable it saw and the subfolders it left (removed afterwards: no other
    app of the session replays the probe's span)."""
    import subprocess
    import sys

    seen = os.environ.get(env.OTEL_CHATBOT_EXPORT_BUFFER)
    before = set(Path(seen).glob("*")) if seen else set()
    dead = f"http://127.0.0.1:{free_port()}"
    subprocess.run([sys.executable, "-c", _PROBE, _PROBE_SERVICE, dead], env={**os.environ}, check=True, timeout=60)
    left = sorted(set(Path(seen).glob("*")) - before) if seen else []
    try:
        yield seen, left
    finally:
        for folder in left:
            shutil.rmtree(folder, ignore_errors=True)


def test_module_scoped_apps_never_buffer_in_the_real_state_folder(
    module_app_buffer: tuple[str | None, list[Path]],
) -> None:
    seen, left = module_app_buffer
    real = Path.home() / ".local" / "state" / "otel-chatbot" / "export-buffer" / _PROBE_SERVICE
    try:
        assert seen is not None, "no export buffer folder set for module-scoped fixtures"
        assert not Path(seen).resolve().is_relative_to(Path.home() / ".local" / "state")
        assert [p for p in left if list(p.glob("t-*.otlp"))], "the app buffered nothing where the tests said"
        assert not real.exists()
    finally:
        shutil.rmtree(real, ignore_errors=True)


@pytest.fixture
def impossible_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No buffer setting, and a default folder that cannot be made (under a regular file: root ignores modes)."""
    (tmp_path / "file.txt").write_text("")
    monkeypatch.delenv(env.OTEL_CHATBOT_EXPORT_BUFFER)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "file.txt" / "sub"))
    return tmp_path


def test_an_unusable_default_folder_falls_back_to_a_private_temporary_one(
    impossible_default: Path, monkeypatch: pytest.MonkeyPatch, receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(impossible_default / "tmp"))
    (impossible_default / "tmp").mkdir()
    with caplog.at_level(logging.WARNING, logger="otel_chatbot"):
        tel = _configure(receiver, embedded=False)  # an app that worked before still starts
    try:
        assert any(
            "default export buffer folder" in r.getMessage() and "instead" in r.getMessage() for r in caplog.records
        )
        fallback = impossible_default / "tmp" / f"otel-chatbot-{os.getuid()}"
        assert fallback.stat().st_mode & 0o777 == 0o700
        names = [f"f{i}" for i in range(10)]
        _spans(tel, names)  # the endpoint is down: buffered in the fallback
        assert len(list(fallback.glob("export-buffer/buffer-test/*/t-*.otlp"))) == 1
        receiver.start()
        assert eventually(lambda: receiver.span_names() == names or None, 20, 0.1)
    finally:
        assert tel.shutdown(timeout=5)


def test_no_usable_default_nor_temporary_folder_turns_the_buffer_off_and_counts(
    impossible_default: Path, monkeypatch: pytest.MonkeyPatch, receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(impossible_default / "file.txt"))  # a file: no temporary folder
    monkeypatch.setattr(Path, "home", lambda: (_ for _ in ()).throw(RuntimeError("no home")))
    monkeypatch.delenv("XDG_STATE_HOME")  # and no home folder either
    with caplog.at_level(logging.WARNING, logger="otel_chatbot"):
        tel = _configure(receiver, embedded=False, export_timeout=0.5)
    try:
        assert any("the export buffer is off" in r.getMessage() for r in caplog.records)
        _spans(tel, [f"o{i}" for i in range(5)])
        assert eventually(lambda: _losses.totals().get(("spans", "buffer_off")) == 5 or None, 10, 0.1)
    finally:
        tel.shutdown(timeout=3)


def test_a_header_outside_latin_1_never_raises_and_the_spans_are_kept(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=caf%C3%A9%E2%82%AC")  # percent-decoded: 'café€'
    with OtlpReceiver("http/protobuf") as receiver:
        receiver.start()
        with caplog.at_level(logging.WARNING, logger="otel_chatbot"):
            tel = _configure(receiver, embedded=False)
            try:
                _spans(tel, [f"h{i}" for i in range(30)])  # three batches, each of which used to raise
                assert sum(int(f.name.split("-")[2].split(".")[0]) for f in _files()) == 30  # kept, not lost
                assert not receiver.span_ids() and not _losses.totals()
            finally:
                assert tel.shutdown(timeout=2)
    warnings = [r.getMessage() for r in caplog.records if "/v1/traces cannot be sent" in r.getMessage()]
    assert len(warnings) == 1 and "UnicodeEncodeError" in warnings[0]  # said once, not a traceback per batch
    assert not [r for r in caplog.records if r.exc_info]


class _Raising:
    """A sender that raises (a broken one): the buffer's thread must back off, not spin."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, data: bytes) -> object:
        self.calls += 1
        raise RuntimeError("broken sender (test)")

    def close(self) -> None:
        pass


def _one_span_request() -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(name="s", trace_id=b"\1" * 16, span_id=b"\2" * 8)
    data: bytes = request.SerializeToString()
    return data


def test_a_sender_that_raises_makes_the_thread_back_off_and_an_export_that_raises_is_counted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from otel_chatbot.telemetry._buffer import DiskBuffer
    from otel_chatbot.telemetry._buffered_exporter import BufferedSpanExporter, Spool

    monkeypatch.setenv(env.OTEL_CHATBOT_SWALLOW_INTERNAL_ERRORS, "1")  # as in production: logged, not raised
    sender = _Raising()
    spool = Spool(sender, sender, DiskBuffer(tmp_path, 2**20))  # type: ignore[arg-type]
    try:
        assert spool.buffer.append_traces(_one_span_request(), 1)
        started = time.monotonic()
        spool._start()
        assert eventually(lambda: sender.calls >= 2 or None, 10, 0.05)  # it retries...
        time.sleep(max(0.0, 2.0 - (time.monotonic() - started)))
        assert sender.calls <= 5  # ...0.5 s, 1 s, 2 s apart; it used to retry thousands of times a second
        exporter = BufferedSpanExporter(spool, 1.0)
        monkeypatch.setattr(spool, "submit_traces", sender.send)  # raises inside export()
        tracer = _recording_tracer()
        spans = []
        for i in range(7):
            span = tracer.start_span(f"e{i}")
            span.end()
            spans.append(span)
        exporter.export(spans)  # type: ignore[arg-type]
        assert _losses.totals().get(("spans", "invalid_value")) == 7  # counted, not lost silently
    finally:
        spool.release(0.5)
        spool.release(0.5)


def _recording_tracer() -> trace.Tracer:
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider().get_tracer("test")


def test_files_adopted_twice_keep_their_order(tmp_path: Path) -> None:
    from otel_chatbot.telemetry._buffer import DiskBuffer

    def order(buffer: DiskBuffer) -> list[bytes]:
        return [entry.path.read_bytes() for entry in buffer._traces]

    first = DiskBuffer(tmp_path, 2**20)
    for data in (b"first-1", b"first-2"):
        first.append_traces(data, 1)
    first.close()  # a dead process: its files stay, its lock is free
    second = DiskBuffer(tmp_path, 2**20)
    second.append_traces(b"second-1", 1)
    assert second.adopt() == 2  # the dead one's files go ahead of its own
    assert order(second) == [b"first-1", b"first-2", b"second-1"]
    second.close()  # dies too, before sending anything
    third = DiskBuffer(tmp_path, 2**20)
    try:
        assert third.adopt() == 3
        assert order(third) == [b"first-1", b"first-2", b"second-1"]  # not second-1 first
    finally:
        third.close()


def test_the_last_summary_line_is_written_at_shutdown_even_within_the_minute(caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    losses = _losses.Losses(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="otel_chatbot"):
        losses.record("spans", "buffer_full", 3)  # said at once
        now[0] += 5
        losses.record("spans", "shutdown", 2)  # within the minute: held back
        losses.flush_log()
        assert len(caplog.records) == 1
        losses.flush_log(force=True)  # at shutdown: said now
    assert caplog.records[-1].getMessage().endswith("spans shutdown=2")


def test_a_second_configure_takes_over_what_the_replaced_exporters_left_at_once(receiver: OtlpReceiver) -> None:
    tel = _configure(receiver, embedded=False)
    names = [f"old{i}" for i in range(20)]
    _spans(tel, names)  # the endpoint is down: on disk
    tel2 = _configure(receiver, embedded=False)  # replaces the first: its exporters are shut down, files left
    try:
        receiver.start()
        arrived = eventually(lambda: receiver.span_names() if len(receiver.span_names()) >= 20 else None, 15, 0.1)
        assert arrived == names  # sent by the new exporter, without waiting for its 30 s adoption round
    finally:
        assert tel2.shutdown(timeout=5)
        tel.shutdown(timeout=1)
