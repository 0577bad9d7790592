"""A real, throwaway PostgreSQL server on loopback for the ledger tests (Debian's postgresql binaries).

initdb refuses to run as root, so as root the server runs as the ``postgres`` system user (created by the Debian
package), or a system user we create. The data directory lives in a fresh directory under the system temp dir (pytest's
own tmp dirs are private to root).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests._servers import free_port

_FALLBACK_USER = "otelchatbot-pg"


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        pytest.fail(f"PostgreSQL's {name} not found: install Debian's postgresql package (scripts/test does it)")
    return found


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for user in ("postgres", _FALLBACK_USER):
        if subprocess.run(["id", "-u", user], capture_output=True).returncode == 0:
            return user
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _FALLBACK_USER], check=True
    )
    return _FALLBACK_USER


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start PostgreSQL on 127.0.0.1 with trust auth; yields a ``postgresql://`` URL; stops and deletes it after."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="otel-chatbot-pg-"))
    data, log = root / "data", root / "server.log"
    if user is not None:
        shutil.chown(root, user)
    prefix = ["runuser", "-u", user, "--"] if user is not None else []
    port = free_port()

    def run(*args: str) -> None:
        proc = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            pytest.fail(f"{args[0]} failed: {proc.stdout}\n{proc.stderr}\n{log.read_text() if log.exists() else ''}")

    try:
        run(initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {port} -h 127.0.0.1 -k {root} -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        run(pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
