"""Build or reuse the three binaries of the native stack, cached outside any checkout or virtualenv.

* otelcol-chatbot: ``go install go.opentelemetry.io/collector/cmd/builder@<pinned>`` + ``collector/manifest.yaml``;
* Jaeger v2: ``go install`` of its module at the pinned commit, or a wrapper module at the fallback release;
* Prometheus: found on ``PATH`` (Debian's ``prometheus`` package) or at ``$OTEL_CHATBOT_PROMETHEUS_BINARY``. Library
  code installs no system package: ``scripts/_stack_install.sh`` does, when it runs from a checkout.

Go builds run in the cache (:func:`otel_chatbot.stack._paths.cache_dir`). Each binary sits in a folder named after its
version (the collector's after a hash of the manifest), so every checkout and virtualenv reuses it and a changed pin
builds a new one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from otel_chatbot import env
from otel_chatbot.stack import _versions as versions
from otel_chatbot.stack._errors import StackError
from otel_chatbot.stack._paths import cache_dir, collector_dir

Log = Callable[[str], None]
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


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One builder at a time per cache (two test runs on one machine must not build into the same folder)."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _go_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env.update(extra or {})
    return env


def _run(argv: list[str], *, log_file: Path, cwd: Path, env: Mapping[str, str], what: str) -> None:
    """Run a build step, appending its output to ``log_file``; raise a one-line StackError when it fails."""
    with log_file.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        code = subprocess.run(
            argv, cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode
    if code != 0:
        raise StackError(f"{what} failed (exit {code}): {_last_error(log_file)}; full log: {log_file}")


def _last_error(log_file: Path) -> str:
    lines = [ln.strip() for ln in log_file.read_text(errors="replace").splitlines() if ln.strip()]
    interesting = [ln for ln in lines if not ln.startswith(("go: downloading", "go: added", "go: upgraded", "$ "))]
    for line in reversed(interesting):
        if "error" in line.lower() or "forbidden" in line.lower() or "cannot" in line.lower():
            return line[:300]
    return (interesting or lines or ["no output"])[-1][:300]


def ensure_builder(go: Path, log: Log) -> Path:
    """``go install`` the pinned collector builder (ocb) into the cache, unless it is there."""
    folder = cache_dir() / "tools" / f"builder-v{versions.COLLECTOR_VERSION}"
    binary = folder / "builder"
    if binary.is_file():
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    log(f"installing the collector builder v{versions.COLLECTOR_VERSION} ...")
    _run(
        [str(go), "install", "-trimpath", "-ldflags=-s -w", f"{versions.BUILDER_MODULE}@v{versions.COLLECTOR_VERSION}"],
        log_file=folder / "install.log",
        cwd=folder,
        env=_go_env({"GOBIN": str(folder)}),
        what="go install of the collector builder",
    )
    return binary


def collector_binary_path(manifest: Path) -> Path:
    """Where the otelcol-chatbot built from ``manifest`` lives in the cache."""
    return cache_dir() / "collector" / manifest_key(manifest.read_text()) / "otelcol-chatbot"


def ensure_collector(go: Path, log: Log) -> Path:
    """Build otelcol-chatbot from ``collector/manifest.yaml`` with ocb, unless this manifest was built before."""
    manifest = collector_dir() / "manifest.yaml"
    binary = collector_binary_path(manifest)
    if binary.is_file():
        return binary
    builder = ensure_builder(go, log)
    folder = binary.parent
    folder.mkdir(parents=True, exist_ok=True)
    build_dir = folder / "build"
    shutil.rmtree(build_dir, ignore_errors=True)
    text = re.sub(r"(?m)^(\s*output_path:).*$", lambda m: f"{m[1]} {build_dir}", manifest.read_text())
    (folder / "manifest.yaml").write_text(text)
    log(f"building otelcol-chatbot {versions.COLLECTOR_VERSION} with ocb (a few minutes on 2 cores) ...")
    started = time.monotonic()
    _run(
        [str(builder), f"--config={folder / 'manifest.yaml'}", "--ldflags=-s -w"],
        log_file=folder / "build.log",
        cwd=folder,
        env=_go_env(),
        what="the otelcol-chatbot build (ocb)",
    )
    (build_dir / "otelcol-chatbot").replace(binary)
    shutil.rmtree(build_dir, ignore_errors=True)
    log(f"built {binary} in {time.monotonic() - started:.0f}s")
    return binary


def _jaeger_primary_dir() -> Path:
    return cache_dir() / "jaeger" / versions.JAEGER_COMMIT[:12]


def _jaeger_fallback_dir() -> Path:
    return cache_dir() / "jaeger" / versions.JAEGER_FALLBACK_VERSION


def ensure_jaeger(go: Path, log: Log) -> Path:
    """Jaeger v2 at the pinned commit, else (when the module proxy refuses that commit) at the fallback release."""
    primary, fallback = _jaeger_primary_dir(), _jaeger_fallback_dir()
    for folder in (primary, fallback):
        if (folder / "jaeger").is_file():
            return folder / "jaeger"
    refused = primary / "proxy-refused"
    if not refused.exists():
        primary.mkdir(parents=True, exist_ok=True)
        log(f"building Jaeger v2 at commit {versions.JAEGER_COMMIT[:12]} (several minutes on 2 cores) ...")
        try:
            _run(
                [
                    str(go),
                    "install",
                    "-trimpath",
                    "-ldflags=-s -w",
                    f"{versions.JAEGER_PACKAGE}@{versions.JAEGER_COMMIT}",
                ],
                log_file=primary / "build.log",
                cwd=primary,
                env=_go_env({"GOBIN": str(primary)}),
                what="go install of Jaeger",
            )
            return primary / "jaeger"
        except StackError:
            text = (primary / "build.log").read_text(errors="replace")
            if "not available" not in text and "invalid version" not in text and "403" not in text:
                raise
            refused.write_text("the Go module proxy does not serve this commit; using the fallback release\n")
    return _build_jaeger_fallback(go, fallback, log)


def _build_jaeger_fallback(go: Path, folder: Path, log: Log) -> Path:
    """Build Jaeger from a wrapper module: a main module may carry the ``replace`` that ``go install`` refuses."""
    src = folder / "src"
    src.mkdir(parents=True, exist_ok=True)
    replaces = "".join(f"replace {line}\n" for line in versions.JAEGER_FALLBACK_REPLACES)
    (src / "go.mod").write_text(f"module otel-chatbot.local/jaeger-build\n\ngo 1.24\n\n{replaces}")
    (src / "go.sum").unlink(missing_ok=True)
    # The checksum database has no records for some of this release's dependencies (404), so it is skipped for this
    # one build; the module proxy still serves the content.
    env = _go_env({"GOSUMDB": "off", "GOFLAGS": (os.environ.get("GOFLAGS", "") + " -mod=mod").strip()})
    target = f"{versions.JAEGER_PACKAGE}@{versions.JAEGER_FALLBACK_VERSION}"
    log(f"building Jaeger {versions.JAEGER_FALLBACK_RELEASE} ({target}) ...")
    started = time.monotonic()
    log_file = folder / "build.log"
    _run([str(go), "get", "-tool", target], log_file=log_file, cwd=src, env=env, what="go get of Jaeger")
    tmp = folder / "jaeger.tmp"
    _run(
        [str(go), "build", "-trimpath", "-ldflags=-s -w", "-o", str(tmp), versions.JAEGER_PACKAGE],
        log_file=log_file,
        cwd=src,
        env=env,
        what="go build of Jaeger",
    )
    tmp.replace(folder / "jaeger")
    log(f"built {folder / 'jaeger'} in {time.monotonic() - started:.0f}s")
    return folder / "jaeger"


def jaeger_version(binary: Path) -> str:
    """The Jaeger release a cached binary was built from (by its cache folder)."""
    if binary.parent.name == versions.JAEGER_FALLBACK_VERSION:
        return f"{versions.JAEGER_FALLBACK_RELEASE} ({versions.JAEGER_MODULE}@{versions.JAEGER_FALLBACK_VERSION})"
    return f"2.20.0 (commit {versions.JAEGER_COMMIT[:12]})"


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


def ensure_all(log: Log = print) -> Binaries:
    """Build or reuse every binary of the stack (idempotent; seconds when the cache is warm)."""
    collector_dir()  # fail early, before a long build, when the configs are not there
    prometheus, promtool = ensure_prometheus(log)
    with _build_lock():
        go_binaries = _cached_go_binaries()
        if go_binaries is None:
            go = find_go()
            go_binaries = ensure_collector(go, log), ensure_jaeger(go, log)
    return Binaries(collector=go_binaries[0], jaeger=go_binaries[1], prometheus=prometheus, promtool=promtool)


def _cached_go_binaries() -> tuple[Path, Path] | None:
    """Both Go-built binaries when already cached (then no Go toolchain is needed at all)."""
    collector = collector_binary_path(collector_dir() / "manifest.yaml")
    jaeger = next(
        (d / "jaeger" for d in (_jaeger_primary_dir(), _jaeger_fallback_dir()) if (d / "jaeger").is_file()), None
    )
    if collector.is_file() and jaeger is not None:
        return collector, jaeger
    return None
