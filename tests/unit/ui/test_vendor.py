"""The vendored charting library is exactly uPlot's npm release (scripts/_vendor_charts.sh re-fetches and verifies)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import otel_chatbot.ui

VENDOR = Path(otel_chatbot.ui.__file__).parent / "static" / "vendor"
REPO = Path(__file__).resolve().parents[3]

# uPlot 1.6.32 (npm), the sums scripts/_vendor_charts.sh checks the npm tarball's files against.
VERSION = "1.6.32"
PINNED = {
    "uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
    "uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
    "uPlot.LICENSE": "8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd",
}


def test_the_vendored_files_are_the_pinned_release() -> None:
    assert {p.name for p in VENDOR.iterdir()} == set(PINNED)
    for name, digest in PINNED.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    banner = (VENDOR / "uPlot.iife.min.js").read_text(encoding="utf-8").splitlines()[0]
    assert re.search(r"\(v([\d.]+)\)", banner).group(1) == VERSION  # type: ignore[union-attr]
    assert "MIT License" in (VENDOR / "uPlot.LICENSE").read_text(encoding="utf-8")


def test_the_refetch_script_pins_the_same_version_and_sums() -> None:
    script = (REPO / "scripts" / "_vendor_charts.sh").read_text(encoding="utf-8")
    assert f"VERSION={VERSION}\n" in script
    assert f"JS_SHA256={PINNED['uPlot.iife.min.js']}\n" in script
    assert f"CSS_SHA256={PINNED['uPlot.min.css']}\n" in script
