"""Jaeger's official release archive: download it, check its pinned sha256, then extract only the ``jaeger`` binary.

The release binary embeds Jaeger's UI (trace view, Monitor tab); a ``go install`` build serves a placeholder page
instead. The archive is ``<base>/v<version>/jaeger-<version>-<os>-<arch>.tar.gz`` (base:
``$OTEL_CHATBOT_JAEGER_RELEASE_URL``, else GitHub's release downloads), pinned in :mod:`otel_chatbot.stack._versions`.
Nothing from the archive is read before its sha256 matches the pin; a mismatch is a :class:`StackError` naming both
sums, and nothing is installed. What was installed is recorded beside the binary (:data:`MARKER`, see
:class:`JaegerInstall`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.client
import json
import os
import platform
import shutil
import tarfile
import time
import urllib.request
import zlib
from pathlib import Path
from typing import Any

from otel_chatbot import env
from otel_chatbot.stack import _steps as steps
from otel_chatbot.stack import _versions as versions
from otel_chatbot.stack._errors import StackError
from otel_chatbot.stack._paths import cache_dir

MARKER = "install.json"
DOWNLOAD_TIMEOUT_S = 10.0
"""Seconds to wait for the server to connect or to send the next bytes (not for the whole download)."""
_ARCHES = {"x86_64": "amd64", "aarch64": "arm64"}  # uname -m -> Go's GOARCH, where they differ
_MIB = 1 << 20


@dataclasses.dataclass(frozen=True)
class JaegerInstall:
    """Which Jaeger a cached binary is, as recorded beside it.

    Attributes:
        kind: ``"release"`` (the official archive, with the UI) or ``"source"`` (built with Go, no UI).
        version: Jaeger's release, e.g. ``2.20.0``, with the Go module version for source builds.
        origin: The archive's URL, or the Go package it was built from.
        sha256: The verified archive's sha256 (releases only).
    """

    kind: str
    version: str
    origin: str
    sha256: str | None = None

    @property
    def ui(self) -> bool:
        """Whether this binary serves Jaeger's UI (only the release archive's does)."""
        return self.kind == "release"

    @property
    def label(self) -> str:
        """``release (UI)`` or ``source build (no UI)``."""
        return "release (UI)" if self.ui else "source build (no UI)"

    def describe(self) -> str:
        """E.g. ``Jaeger 2.20.0, release (UI)``."""
        return f"Jaeger {self.version}, {self.label}"


class ReleaseUnavailable(Exception):
    """The archive cannot be had here (offline, HTTP error, no pinned sum for this platform); build from source."""


def write_marker(folder: Path, install: JaegerInstall) -> None:
    """Record beside the binary which Jaeger it is."""
    data: dict[str, Any] = {**dataclasses.asdict(install), "label": install.label, "ui": install.ui}
    (folder / MARKER).write_text(json.dumps(data, indent=2) + "\n")


def read_marker(folder: Path) -> JaegerInstall | None:
    """The record :func:`write_marker` left in ``folder``, or None (none, or unreadable)."""
    try:
        data = json.loads((folder / MARKER).read_text())
        return JaegerInstall(
            kind=str(data["kind"]), version=str(data["version"]), origin=str(data["origin"]), sha256=data.get("sha256")
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def platform_name() -> str:
    """This machine as Jaeger's archives name it, e.g. ``linux-amd64``."""
    machine = platform.machine().lower()
    return f"{platform.system().lower()}-{_ARCHES.get(machine, machine)}"


def archive_name(version: str = versions.JAEGER_RELEASE, platform_: str | None = None) -> str:
    """E.g. ``jaeger-2.20.0-linux-amd64.tar.gz``."""
    return f"jaeger-{version}-{platform_ or platform_name()}.tar.gz"


def release_folder() -> Path:
    """Where the pinned release's binary lives in the cache (one folder per release and platform)."""
    return cache_dir() / "jaeger" / f"release-{versions.JAEGER_RELEASE}-{platform_name()}"


def cached_release() -> Path | None:
    """The pinned release's binary when it was installed before (with its record), else None."""
    folder = release_folder()
    if (folder / "jaeger").is_file() and read_marker(folder) is not None:
        return folder / "jaeger"
    return None


def release_url() -> str:
    """The archive's URL for this machine.

    Raises:
        ReleaseUnavailable: The download is switched off, or no sha256 is pinned for this platform.
    """
    base = os.environ.get(env.OTEL_CHATBOT_JAEGER_RELEASE_URL, "").strip() or versions.JAEGER_RELEASE_URL
    if base.lower() == "off":
        raise ReleaseUnavailable(f"{env.OTEL_CHATBOT_JAEGER_RELEASE_URL}=off")
    if platform_name() not in versions.JAEGER_RELEASE_SHA256:
        raise ReleaseUnavailable(f"no sha256 is pinned for {archive_name()} (only {_pinned()})")
    return f"{base.rstrip('/')}/v{versions.JAEGER_RELEASE}/{archive_name()}"


def _pinned() -> str:
    return ", ".join(sorted(versions.JAEGER_RELEASE_SHA256))


def install_release(log: steps.Log, *, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download the pinned release archive, verify its sha256, extract its ``jaeger`` binary into the cache.

    Returns:
        The installed binary (its record, :data:`MARKER`, beside it).

    Raises:
        ReleaseUnavailable: It cannot be downloaded (switched off, no pin for this platform, unreachable, HTTP error,
            cut short); the caller builds from source.
        StackError: The download does not match the pinned sha256 (both sums named), or the verified archive lacks
            the binary. Nothing is installed then.
    """
    url = release_url()
    expected = versions.JAEGER_RELEASE_SHA256[platform_name()]
    folder = release_folder()
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / (archive_name() + ".part")
    started = time.monotonic()
    try:
        actual = _download(url, archive, timeout, log)
        if actual != expected:
            raise StackError(
                f"{url}: its sha256 is {actual}, not the pinned {expected} (otel_chatbot/stack/_versions.py "
                f"JAEGER_RELEASE_SHA256); nothing was installed: retry in case the download was altered, or set "
                f"{env.OTEL_CHATBOT_JAEGER_RELEASE_URL}=off to build Jaeger from source"
            )
        binary = _extract(archive, f"jaeger-{versions.JAEGER_RELEASE}-{platform_name()}/jaeger", folder, url)
    except BaseException:
        archive.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty: leave nothing behind
        raise
    archive.unlink()
    write_marker(folder, JaegerInstall(kind="release", version=versions.JAEGER_RELEASE, origin=url, sha256=actual))
    log(
        f"installed Jaeger {versions.JAEGER_RELEASE} (release with UI, sha256 verified) from {url} "
        f"in {time.monotonic() - started:.0f}s"
    )
    return binary


def _download(url: str, dest: Path, timeout: float, log: steps.Log) -> str:
    """Stream ``url`` into ``dest``; return its sha256. Any failure to get all of it is :class:`ReleaseUnavailable`."""
    digest = hashlib.sha256()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "otel-chatbot"})
        with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            received, next_line = 0, time.monotonic() + steps.PROGRESS_INTERVAL_S
            while chunk := response.read(_MIB):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
                if time.monotonic() >= next_line:
                    next_line = time.monotonic() + steps.PROGRESS_INTERVAL_S
                    log(f"  ... downloading {archive_name()}: {received // _MIB} of {total // _MIB or '?'} MiB")
        if total and received != total:
            raise ReleaseUnavailable(f"{url}: the download stopped after {received} of {total} bytes")
    except ReleaseUnavailable:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError, HTTPError and timeouts are OSError
        raise ReleaseUnavailable(f"{url}: {_reason(exc)}") from None
    return digest.hexdigest()


def _reason(exc: BaseException) -> str:
    """A failed download in a few words: ``HTTP 404 Not Found``, ``Name or service not known``, ``timed out``."""
    code, reason = getattr(exc, "code", None), getattr(exc, "reason", None)
    if isinstance(code, int):
        return f"HTTP {code} {reason or ''}".strip()
    if isinstance(reason, OSError):
        return reason.strerror or str(reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(reason or exc) or type(exc).__name__


def _extract(archive: Path, member_name: str, folder: Path, url: str) -> Path:
    """Extract only ``member_name`` (a regular file) as ``folder/jaeger``, atomically, executable."""
    tmp = folder / "jaeger.tmp"
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = next((m for m in tar.getmembers() if m.name == member_name), None)
            source = tar.extractfile(member) if member is not None and member.isfile() else None
            if source is None:
                raise StackError(f"{url} has no {member_name}: the release's layout changed; update the pin")
            with source, tmp.open("wb") as out:
                shutil.copyfileobj(source, out)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise StackError(f"{url} is not a readable .tar.gz ({exc}); nothing was installed") from None
    tmp.chmod(0o755)
    return tmp.replace(folder / "jaeger")
