"""What Jaeger's install step costs: the offline fallback decision, and a release-sized download, verify and extract.

* offline: ``install_release`` against the real release URL as this machine resolves it (no network to GitHub here:
  a DNS failure), i.e. the time ``stack build`` loses before it falls back to the source build; ``--repeat`` runs;
* release: an archive of the real one's size (58,367,331 bytes, incompressible content in the release's layout)
  served by ``http.server`` on loopback, pinned by its own sha256: download + sha256 + extraction of the one binary;
* warm: ``ensure_all`` with every binary cached (no lock, no download).

Each measurement runs in a fresh temporary cache. Loopback only, bounded in count.

    python benchmarks/jaeger_install.py --repeat 5
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import io
import json
import os
import statistics
import tarfile
import tempfile
import threading
import time
from pathlib import Path

from otel_chatbot import env
from otel_chatbot.stack import _build as build
from otel_chatbot.stack import _jaeger_release as release
from otel_chatbot.stack import _versions as versions

RELEASE_BYTES = 58_367_331


def _quiet(_: str) -> None:
    pass


def _offline(repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as cache:
            os.environ[env.OTEL_CHATBOT_CACHE] = cache
            os.environ.pop(env.OTEL_CHATBOT_JAEGER_RELEASE_URL, None)
            started = time.perf_counter()
            try:
                release.install_release(_quiet)
            except release.ReleaseUnavailable:
                pass
            else:
                raise SystemExit("the release was downloaded: this machine is online; the offline figure needs none")
            times.append(time.perf_counter() - started)
    return times


def _archive(root: Path) -> str:
    folder = f"jaeger-{versions.JAEGER_RELEASE}-{release.platform_name()}"
    body = os.urandom(RELEASE_BYTES)  # incompressible: the archive ends up about the real one's size
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo(f"{folder}/jaeger")
        info.size, info.mode = len(body), 0o755
        tar.addfile(info, io.BytesIO(body))
    data = buffer.getvalue()
    path = root / f"v{versions.JAEGER_RELEASE}" / release.archive_name()
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _release(repeat: int) -> tuple[list[float], int]:
    with tempfile.TemporaryDirectory() as served:
        sha = _archive(Path(served))
        size = (Path(served) / f"v{versions.JAEGER_RELEASE}" / release.archive_name()).stat().st_size
        versions.JAEGER_RELEASE_SHA256 = {release.platform_name(): sha}  # type: ignore[misc]

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=served, **kwargs)  # type: ignore[arg-type]

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        os.environ[env.OTEL_CHATBOT_JAEGER_RELEASE_URL] = f"http://127.0.0.1:{server.server_address[1]}"
        times = []
        try:
            for _ in range(repeat):
                with tempfile.TemporaryDirectory() as cache:
                    os.environ[env.OTEL_CHATBOT_CACHE] = cache
                    started = time.perf_counter()
                    release.install_release(_quiet)
                    times.append(time.perf_counter() - started)
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
    return times, size


def _warm(repeat: int, real_cache: str | None) -> list[float]:
    if real_cache is None:
        return []
    os.environ[env.OTEL_CHATBOT_CACHE] = real_cache
    os.environ.pop(env.OTEL_CHATBOT_JAEGER_RELEASE_URL, None)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        build.ensure_all(_quiet)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warm-cache", help="a cache with every binary built (default: $OTEL_CHATBOT_CACHE, if set)")
    args = parser.parse_args()
    warm_cache = args.warm_cache or os.environ.get(env.OTEL_CHATBOT_CACHE)
    offline = _offline(args.repeat)
    installed, size = _release(args.repeat)
    warm = _warm(args.repeat, warm_cache)
    result = {
        "offline_fallback_s": {"median": statistics.median(offline), "max": max(offline)},
        "release_install_s": {"median": statistics.median(installed), "max": max(installed), "archive_bytes": size},
        "release_install_mb_per_s": size / 1e6 / statistics.median(installed),
        "warm_ensure_all_s": {"median": statistics.median(warm), "max": max(warm)} if warm else None,
        "repeat": args.repeat,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
