"""Jaeger v2 for the native stack: the official release archive (with the UI) when it can be had, else a Go build.

Order (:func:`ensure_jaeger`):

1. the pinned release, installed before (``<cache>/jaeger/release-<version>-<os>-<arch>/``);
2. a source build, installed before, unless the caller asks to try the release again (``otel-chatbot stack build``);
3. the release archive, downloaded and verified (:mod:`otel_chatbot.stack._jaeger_release`); when it cannot be
   downloaded (offline, HTTP error, no pin for this platform) one line says so and:
4. a source build: ``go install`` at the pinned commit, or, when the Go module proxy refuses that commit, the fallback
   release built from a wrapper module. A source build serves Jaeger's APIs and a placeholder page instead of the UI.

Each binary's folder records which one it is (``install.json``, :class:`JaegerInstall`).
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from otel_chatbot.stack import _jaeger_release as release
from otel_chatbot.stack import _steps as steps
from otel_chatbot.stack import _versions as versions
from otel_chatbot.stack._errors import StackError
from otel_chatbot.stack._jaeger_release import JaegerInstall
from otel_chatbot.stack._paths import cache_dir

PLACEHOLDER_TEXT = "This is not the Jaeger UI you are looking for"
"""On the page a Jaeger binary built without the UI assets serves at ``/``."""


def _primary_dir() -> Path:
    return cache_dir() / "jaeger" / versions.JAEGER_COMMIT[:12]


def _fallback_dir() -> Path:
    return cache_dir() / "jaeger" / versions.JAEGER_FALLBACK_VERSION


def _cached_source() -> Path | None:
    return next((d / "jaeger" for d in (_primary_dir(), _fallback_dir()) if (d / "jaeger").is_file()), None)


def cached_jaeger() -> Path | None:
    """The Jaeger binary to run with no download and no build: the release's, else a source build's, else None."""
    return release.cached_release() or _cached_source()


def ensure_jaeger(go: Callable[[], Path], log: steps.Log, *, retry_release: bool = False) -> Path:
    """The Jaeger binary to run, installed or built into the cache when needed.

    Args:
        go: Returns the Go toolchain (called only when something must be built).
        log: Where progress goes.
        retry_release: Try the release archive even when a source build is cached (``stack build`` does).

    Raises:
        StackError: The release archive does not match its pinned sha256, or the source build failed.
    """
    installed = release.cached_release()
    if installed is not None:
        return installed
    source = _cached_source()
    if source is not None and not retry_release:
        return source
    try:
        return release.install_release(log)
    except release.ReleaseUnavailable as exc:
        then = "using the cached source build" if source is not None else "building Jaeger from source"
        log(f"Jaeger {versions.JAEGER_RELEASE}'s release archive (with UI) not installed: {exc}; {then} (no UI)")
    return source or build_from_source(go(), log)


def build_from_source(go: Path, log: steps.Log) -> Path:
    """Jaeger v2 at the pinned commit, else (when the module proxy refuses that commit) at the fallback release."""
    primary = _primary_dir()
    refused = primary / "proxy-refused"
    if not refused.exists():
        primary.mkdir(parents=True, exist_ok=True)
        log(f"building Jaeger v2 at commit {versions.JAEGER_COMMIT[:12]} (several minutes on 2 cores) ...")
        target = f"{versions.JAEGER_PACKAGE}@{versions.JAEGER_COMMIT}"
        try:
            steps.run_step(
                [str(go), "install", "-trimpath", "-ldflags=-s -w", target],
                log_file=primary / "build.log",
                cwd=primary,
                env=steps.go_env({"GOBIN": str(primary)}),
                what="go install of Jaeger",
                log=log,
            )
            release.write_marker(primary, JaegerInstall(kind="source", version=_primary_version(), origin=target))
            return primary / "jaeger"
        except StackError:
            text = (primary / "build.log").read_text(errors="replace")
            if "not available" not in text and "invalid version" not in text and "403" not in text:
                raise
            refused.write_text("the Go module proxy does not serve this commit; using the fallback release\n")
    return _build_fallback(go, _fallback_dir(), log)


def _build_fallback(go: Path, folder: Path, log: steps.Log) -> Path:
    """Build Jaeger from a wrapper module: a main module may carry the ``replace`` that ``go install`` refuses."""
    src = folder / "src"
    src.mkdir(parents=True, exist_ok=True)
    replaces = "".join(f"replace {line}\n" for line in versions.JAEGER_FALLBACK_REPLACES)
    (src / "go.mod").write_text(f"module otel-chatbot.local/jaeger-build\n\ngo 1.24\n\n{replaces}")
    (src / "go.sum").unlink(missing_ok=True)
    # The checksum database has no records for some of this release's dependencies (404), so it is skipped for this
    # one build; the module proxy still serves the content.
    env = steps.go_env({"GOSUMDB": "off", "GOFLAGS": (os.environ.get("GOFLAGS", "") + " -mod=mod").strip()})
    target = f"{versions.JAEGER_PACKAGE}@{versions.JAEGER_FALLBACK_VERSION}"
    log(f"building Jaeger {versions.JAEGER_FALLBACK_RELEASE} from source ({target}) ...")
    started = time.monotonic()
    log_file = folder / "build.log"
    steps.run_step(
        [str(go), "get", "-tool", target], log_file=log_file, cwd=src, env=env, what="go get of Jaeger", log=log
    )
    tmp = folder / "jaeger.tmp"
    steps.run_step(
        [str(go), "build", "-trimpath", "-ldflags=-s -w", "-o", str(tmp), versions.JAEGER_PACKAGE],
        log_file=log_file,
        cwd=src,
        env=env,
        what="go build of Jaeger",
        log=log,
    )
    tmp.replace(folder / "jaeger")
    release.write_marker(folder, JaegerInstall(kind="source", version=_fallback_version(), origin=target))
    log(f"built {folder / 'jaeger'} in {time.monotonic() - started:.0f}s")
    return folder / "jaeger"


def _primary_version() -> str:
    return f"{versions.JAEGER_RELEASE} (commit {versions.JAEGER_COMMIT[:12]})"


def _fallback_version() -> str:
    return f"{versions.JAEGER_FALLBACK_RELEASE} ({versions.JAEGER_MODULE}@{versions.JAEGER_FALLBACK_VERSION})"


def jaeger_install(binary: Path) -> JaegerInstall:
    """Which Jaeger ``binary`` is: its folder's record, else (a cache from before records) told by its folder."""
    recorded = release.read_marker(binary.parent)
    if recorded is not None:
        return recorded
    if binary.parent.name == versions.JAEGER_FALLBACK_VERSION:
        return JaegerInstall(kind="source", version=_fallback_version(), origin=versions.JAEGER_PACKAGE)
    return JaegerInstall(kind="source", version=_primary_version(), origin=versions.JAEGER_PACKAGE)


def serves_ui(jaeger_url: str, timeout: float = 2.0) -> bool | None:
    """Ask a running Jaeger: True when ``/`` is its UI, False for a source build's placeholder, None when it is down."""
    try:
        with urllib.request.urlopen(jaeger_url.rstrip("/") + "/", timeout=timeout) as response:
            page = response.read(256 * 1024).decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return PLACEHOLDER_TEXT not in page
