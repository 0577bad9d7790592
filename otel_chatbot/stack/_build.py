"""Build or reuse the three binaries of the native stack, cached outside any checkout or virtualenv.

* otelcol-chatbot: ``go install go.opentelemetry.io/collector/cmd/builder@<pinned>`` + ``collector/manifest.yaml``;
* Jaeger v2: the official release archive (with the UI, sha256 pinned) when it can be downloaded, else ``go install``
  of its module at the pinned commit, or a wrapper module at the fallback release (:mod:`otel_chatbot.stack._jaeger`);
* Prometheus: found on ``PATH`` (Debian's ``prometheus`` package) or at ``$OTEL_CHATBOT_PROMETHEUS_BINARY``. Library
  code installs no system package: ``scripts/_stack_install.sh`` does, when it runs from a checkout.

Go builds run in the cache (:func:`otel_chatbot.stack._paths.cache_dir`). Each binary sits in a folder named after its
version (the collector's after a hash of the manifest), so every checkout and virtualenv reuses it and a changed pin
builds a new one.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from otel_chatbot import env
from otel_chatbot.stack import _steps as steps
from otel_chatbot.stack import _versions as versions
from otel_chatbot.stack._errors import StackError
from otel_chatbot.stack._jaeger import cached_jaeger, ensure_jaeger
from otel_chatbot.stack._paths import cache_dir, collector_dir
from otel_chatbot.stack._steps import Log

_GO_MINIMUM = "{}.{}".format(*versions.GO_MINIMUM)
_GO_FALLBACKS = ("/usr/local/go/bin/go",)  # where go.dev's tarball installs Go, often not on PATH


@dataclasses.dataclass(frozen=True)
class Binaries:
    """Paths of the native stack's executables."""

    collector: Path
    jaeger: Path
    prometheus: Path
    promtool: Path


def manifest_key(manifest_text: str) -> str:
    """Cache key of a builder manifest: a hash of its non-comment lines (comments may change without a rebuild)."""
    lines = [line.rstrip() for line in manifest_text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def find_go() -> Path:
    """The Go toolchain, checked against :data:`versions.GO_MINIMUM`."""
    found = shutil.which("go") or next((p for p in _GO_FALLBACKS if os.access(p, os.X_OK)), None)
    if found is None:
        raise StackError(
            f"Go toolchain not found: install Go >= {_GO_MINIMUM} (https://go.dev/dl/ or your package manager) "
            "and put `go` on PATH"
        )
    out = subprocess.run([found, "env", "GOVERSION"], capture_output=True, text=True, check=False).stdout.strip()
    match = re.match(r"go(\d+)\.(\d+)", out)
    if match is None or (int(match[1]), int(match[2])) < versions.GO_MINIMUM:
        raise StackError(f"{found} is {out or 'unknown'}; the stack needs Go >= {_GO_MINIMUM}: install a newer Go")
    return Path(found)


def ensure_builder(go: Path, log: Log) -> Path:
    """``go install`` the pinned collector builder (ocb) into the cache, unless it is there."""
    folder = cache_dir() / "tools" / f"builder-v{versions.COLLECTOR_VERSION}"
    binary = folder / "builder"
    if binary.is_file():
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    log(f"installing the collector builder v{versions.COLLECTOR_VERSION} ...")
    steps.run_step(
        [str(go), "install", "-trimpath", "-ldflags=-s -w", f"{versions.BUILDER_MODULE}@v{versions.COLLECTOR_VERSION}"],
        log_file=folder / "install.log",
        cwd=folder,
        env=steps.go_env({"GOBIN": str(folder)}),
        what="go install of the collector builder",
        log=log,
    )
    return binary


def collector_binary_path(manifest: Path) -> Path:
    """Where the otelcol-chatbot built from ``manifest`` lives in the cache."""
    return cache_dir() / "collector" / manifest_key(manifest.read_text()) / "otelcol-chatbot"


def ensure_collector(go: Callable[[], Path], log: Log) -> Path:
    """Build otelcol-chatbot from ``collector/manifest.yaml`` with ocb, unless this manifest was built before.

    ``go`` returns the Go toolchain; it is called only when something must be built.
    """
    manifest = collector_dir() / "manifest.yaml"
    binary = collector_binary_path(manifest)
    if binary.is_file():
        return binary
    builder = ensure_builder(go(), log)
    folder = binary.parent
    folder.mkdir(parents=True, exist_ok=True)
    build_dir = folder / "build"
    shutil.rmtree(build_dir, ignore_errors=True)
    text = re.sub(r"(?m)^(\s*output_path:).*$", lambda m: f"{m[1]} {build_dir}", manifest.read_text())
    (folder / "manifest.yaml").write_text(text)
    log(f"building otelcol-chatbot {versions.COLLECTOR_VERSION} with ocb (a few minutes on 2 cores) ...")
    started = time.monotonic()
    steps.run_step(
        [str(builder), f"--config={folder / 'manifest.yaml'}", "--ldflags=-s -w"],
        log_file=folder / "build.log",
        cwd=folder,
        env=steps.go_env(),
        what="the otelcol-chatbot build (ocb)",
        log=log,
    )
    (build_dir / "otelcol-chatbot").replace(binary)
    shutil.rmtree(build_dir, ignore_errors=True)
    log(f"built {binary} in {time.monotonic() - started:.0f}s")
    return binary


def prometheus_version(binary: Path) -> str:
    """``prometheus --version``'s release number, e.g. ``2.42.0+ds``."""
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"version (\S+)", out.stdout + out.stderr)
    return match[1] if match else "unknown"


def _find_prometheus() -> tuple[Path, Path]:
    """``$OTEL_CHATBOT_PROMETHEUS_BINARY`` (promtool beside it, else on PATH), else both on PATH."""
    explicit = os.environ.get(env.OTEL_CHATBOT_PROMETHEUS_BINARY)
    if explicit:
        prometheus = Path(explicit).expanduser()
        if not os.access(prometheus, os.X_OK):
            raise StackError(
                f"{env.OTEL_CHATBOT_PROMETHEUS_BINARY}={explicit} is not an executable file: "
                "point it at the prometheus binary"
            )
        beside = prometheus.with_name("promtool")
        promtool = str(beside) if os.access(beside, os.X_OK) else shutil.which("promtool")
        if promtool is None:
            raise StackError(f"promtool is neither beside {prometheus} nor on PATH: put it next to prometheus")
        return prometheus, Path(promtool)
    found = shutil.which("prometheus"), shutil.which("promtool")
    if found[0] is None or found[1] is None:
        raise StackError(
            f"Prometheus not found: run `sudo apt-get install --no-install-recommends "
            f"{versions.PROMETHEUS_DEBIAN_PACKAGE}` (Debian/Ubuntu; the checkout's scripts/_stack_install.sh does it) "
            f"or set {env.OTEL_CHATBOT_PROMETHEUS_BINARY}=/path/to/prometheus (with promtool beside it)"
        )
    return Path(found[0]), Path(found[1])


def ensure_prometheus(log: Log) -> tuple[Path, Path]:
    """Prometheus and promtool, found (never installed: that is the scripts' job, see ``scripts/_stack_install.sh``).

    Raises:
        StackError: Neither is found; the message names the Debian package and the variable to set instead.
    """
    prometheus, promtool = _find_prometheus()
    version = prometheus_version(prometheus)
    if not version.startswith(versions.PROMETHEUS_VERSION):
        log(f"warning: {prometheus} is Prometheus {version}; the stack is tested with {versions.PROMETHEUS_VERSION}")
    return prometheus, promtool


def ensure_all(log: Log = print, *, retry_release: bool = False) -> Binaries:
    """Build, download or reuse every binary of the stack (idempotent; well under a second when the cache is warm).

    Args:
        log: Where progress goes: what is built or downloaded, a line every 10 s while it runs, and a wait for another
            process that holds the cache's build lock.
        retry_release: Try Jaeger's release archive (with the UI) again even when a source build is cached.

    Raises:
        StackError: One line naming what failed and what to do (no Go, no Prometheus, a failed build and its log, a
            release archive that does not match its pinned sha256).
    """
    collector_dir()  # fail early, before a long build, when the configs are not there
    prometheus, promtool = ensure_prometheus(log)
    collector, jaeger = collector_binary_path(collector_dir() / "manifest.yaml"), cached_jaeger()
    if collector.is_file() and jaeger is not None and not retry_release:
        return Binaries(collector=collector, jaeger=jaeger, prometheus=prometheus, promtool=promtool)
    with steps.build_lock(log):
        go = functools.cache(find_go)  # only when something must be built
        collector = ensure_collector(go, log)
        jaeger = ensure_jaeger(go, log, retry_release=retry_release)
    return Binaries(collector=collector, jaeger=jaeger, prometheus=prometheus, promtool=promtool)
