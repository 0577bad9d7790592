"""Jaeger's release archive: downloaded from a real HTTP server on loopback, verified against its pinned sha256.

The server (stdlib ``http.server``) serves an archive made here with the real one's layout
(``jaeger-<version>-<os>-<arch>/jaeger`` and ``example-hotrod``), a small executable script standing in for the
binary. Only the source build is replaced (by a stand-in that records its calls): a real Go build takes minutes and
is covered by the stack tests.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import socket
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_chatbot import env
from otel_chatbot.stack import StackError
from otel_chatbot.stack import _jaeger as jaeger
from otel_chatbot.stack import _jaeger_release as release
from otel_chatbot.stack import _versions as versions

VERSION = versions.JAEGER_RELEASE
STAND_IN = b'#!/bin/sh\necho "stand-in jaeger $*"\n'


class _Server:
    """A loopback HTTP server for the release folder ``root``; counts the requests it answers."""

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        self.truncate = False
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                if outer.truncate:  # announce more bytes than are sent, then hang up
                    body = (root / self.path.lstrip("/")).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    self.wfile.write(body)
                    return
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/releases"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def _archive(members: dict[str, bytes]) -> bytes:
    """A .tar.gz with the release's layout: the folder ``jaeger-<version>-<os>-<arch>/`` holding ``members``."""
    folder = f"jaeger-{VERSION}-{release.platform_name()}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _publish(root: Path, data: bytes) -> str:
    """Put ``data`` where the release URL points; return its sha256."""
    path = root / "releases" / f"v{VERSION}" / release.archive_name()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


class _SourceBuild:
    """Stands in for the Go source build: records each call and 'builds' a binary where the real one would."""

    def __init__(self, cache: Path) -> None:
        self.calls = 0
        self.binary = cache / "jaeger" / versions.JAEGER_FALLBACK_VERSION / "jaeger"

    def __call__(self, go: Path, log: object) -> Path:
        self.calls += 1
        self.binary.parent.mkdir(parents=True, exist_ok=True)
        self.binary.write_text("#!/bin/sh\n")
        return self.binary


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(env.OTEL_CHATBOT_CACHE, str(folder))
    return folder


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    root = tmp_path / "served"
    root.mkdir()
    with _Server(root) as running:
        monkeypatch.setenv(env.OTEL_CHATBOT_JAEGER_RELEASE_URL, running.base_url)
        yield running


@pytest.fixture
def source_build(cache: Path, monkeypatch: pytest.MonkeyPatch) -> _SourceBuild:
    stand_in = _SourceBuild(cache)
    monkeypatch.setattr(jaeger, "build_from_source", stand_in)
    return stand_in


def _pin(monkeypatch: pytest.MonkeyPatch, sha256: str) -> None:
    monkeypatch.setattr(versions, "JAEGER_RELEASE_SHA256", {release.platform_name(): sha256})


def _no_go() -> Path:
    raise AssertionError("the Go toolchain was asked for: nothing should be built")


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_right_checksum_installs_only_the_binary_and_records_release_with_ui(
    cache: Path, server: _Server, source_build: _SourceBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pin(monkeypatch, _publish(tmp_path / "served", _archive({"jaeger": STAND_IN, "example-hotrod": b"hotrod"})))
    logged: list[str] = []

    binary = jaeger.ensure_jaeger(_no_go, logged.append)

    assert binary == release.release_folder() / "jaeger"
    assert sorted(p.name for p in binary.parent.iterdir()) == ["install.json", "jaeger"]  # no hotrod, no archive
    run = subprocess.run([str(binary), "--config", "x.yaml"], capture_output=True, text=True, check=True)
    assert run.stdout == "stand-in jaeger --config x.yaml\n"  # the archive's script, extracted executable
    record = json.loads((binary.parent / "install.json").read_text())
    assert record["label"] == "release (UI)" and record["ui"] is True and record["kind"] == "release"
    assert record["version"] == VERSION and record["origin"].startswith(server.base_url)
    assert jaeger.jaeger_install(binary).describe() == f"Jaeger {VERSION}, release (UI)"
    assert len(logged) == 1 and "sha256 verified" in logged[0]
    assert server.requests == [f"/releases/v{VERSION}/{release.archive_name()}"]
    assert source_build.calls == 0

    assert jaeger.ensure_jaeger(_no_go, logged.append) == binary  # cached: no second download
    assert len(server.requests) == 1


def test_a_wrong_checksum_is_an_error_naming_both_sums_and_installs_nothing(
    cache: Path, server: _Server, source_build: _SourceBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    actual = _publish(tmp_path / "served", _archive({"jaeger": STAND_IN}))
    pinned = hashlib.sha256(b"another archive").hexdigest()
    _pin(monkeypatch, pinned)

    with pytest.raises(StackError) as raised:
        jaeger.ensure_jaeger(_no_go, print)

    message = str(raised.value)
    assert actual in message and pinned in message and "\n" not in message
    assert "nothing was installed" in message and f"{env.OTEL_CHATBOT_JAEGER_RELEASE_URL}=off" in message
    assert not release.release_folder().exists()
    assert release.cached_release() is None and jaeger.cached_jaeger() is None
    assert source_build.calls == 0  # a mismatch is never papered over with a source build


@pytest.mark.parametrize("case", ["server down", "404", "cut short"])
def test_a_failed_download_falls_back_to_the_source_build_in_one_line(
    case: str,
    cache: Path,
    server: _Server,
    source_build: _SourceBuild,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _pin(monkeypatch, _publish(tmp_path / "served", _archive({"jaeger": STAND_IN})))
    if case == "server down":
        monkeypatch.setenv(env.OTEL_CHATBOT_JAEGER_RELEASE_URL, f"http://127.0.0.1:{_closed_port()}/releases")
    elif case == "404":
        monkeypatch.setenv(env.OTEL_CHATBOT_JAEGER_RELEASE_URL, server.base_url + "/missing")
    else:
        server.truncate = True
    logged: list[str] = []

    binary = jaeger.ensure_jaeger(lambda: Path("/usr/bin/go"), logged.append)

    assert binary == source_build.binary and source_build.calls == 1
    assert len(logged) == 1
    assert "release archive (with UI) not installed" in logged[0] and "building Jaeger from source (no UI)" in logged[0]
    served = len((tmp_path / "served" / "releases" / f"v{VERSION}" / release.archive_name()).read_bytes())
    expected = {"server down": "Connection refused", "404": "HTTP 404", "cut short": f"after {served} of 100000 bytes"}
    assert expected[case] in logged[0]
    assert not release.release_folder().exists()  # no partial archive, no empty folder
    assert jaeger.jaeger_install(binary).label == "source build (no UI)"


def test_switched_off_or_unpinned_platforms_never_download(
    cache: Path, server: _Server, source_build: _SourceBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish(tmp_path / "served", _archive({"jaeger": STAND_IN}))
    monkeypatch.setattr(versions, "JAEGER_RELEASE_SHA256", {"plan9-mips": "0" * 64})
    logged: list[str] = []
    jaeger.ensure_jaeger(lambda: Path("go"), logged.append)
    assert f"no sha256 is pinned for {release.archive_name()}" in logged[0]

    source_build.binary.unlink()
    monkeypatch.setenv(env.OTEL_CHATBOT_JAEGER_RELEASE_URL, "off")
    jaeger.ensure_jaeger(lambda: Path("go"), logged.append)
    assert f"{env.OTEL_CHATBOT_JAEGER_RELEASE_URL}=off" in logged[1]
    assert server.requests == [] and source_build.calls == 2


def test_a_cached_source_build_is_reused_until_the_release_is_asked_for_again(
    cache: Path, server: _Server, source_build: _SourceBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pin(monkeypatch, _publish(tmp_path / "served", _archive({"jaeger": STAND_IN})))
    source_build(Path("go"), None)  # built from source earlier (e.g. offline)

    assert jaeger.ensure_jaeger(_no_go, print) == source_build.binary  # `stack up`: no download attempt
    assert server.requests == []
    installed = jaeger.ensure_jaeger(_no_go, print, retry_release=True)  # `stack build`
    assert installed == release.release_folder() / "jaeger" and len(server.requests) == 1
    assert jaeger.cached_jaeger() == installed  # the release wins from now on

    monkeypatch.setenv(env.OTEL_CHATBOT_JAEGER_RELEASE_URL, f"http://127.0.0.1:{_closed_port()}/releases")
    assert jaeger.ensure_jaeger(_no_go, print, retry_release=True) == installed  # installed: never downloaded again
    assert len(server.requests) == 1


def test_a_verified_archive_without_the_binary_is_an_error(
    cache: Path, server: _Server, source_build: _SourceBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pin(monkeypatch, _publish(tmp_path / "served", _archive({"example-hotrod": b"hotrod"})))
    with pytest.raises(StackError, match=f"has no jaeger-{VERSION}-.*/jaeger"):
        jaeger.ensure_jaeger(_no_go, print)
    assert not release.release_folder().exists()


def test_the_pinned_release_is_the_real_asset() -> None:
    """The names the download uses are the real release's (Jaeger's scripts/build/package-deploy.sh)."""
    assert versions.JAEGER_RELEASE == "2.20.0"  # the release of JAEGER_COMMIT, the source build's first choice
    assert release.archive_name("2.20.0", "linux-amd64") == "jaeger-2.20.0-linux-amd64.tar.gz"
    sha = versions.JAEGER_RELEASE_SHA256["linux-amd64"]
    assert len(sha) == 64 and int(sha, 16) >= 0
    assert versions.JAEGER_RELEASE_URL == "https://github.com/jaegertracing/jaeger/releases/download"
