"""Every version the native stack uses, in ONE place (docs/stack.md).

``collector/manifest.yaml`` and ``collector/docker-compose.yaml`` repeat these numbers because ocb and Docker need
literal versions; ``tests/integration/stack/test_configs.py`` fails when they drift from this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

COLLECTOR_VERSION: Final = "0.161.0"
"""OpenTelemetry Collector core/contrib release of otelcol-chatbot and of the builder (ocb). The newest release whose
every component the Go module proxy serves here (v0.159.0 lacks signal_to_metrics, v0.160.0 the prometheus exporter).
"""
COLLECTOR_STABLE_VERSION: Final = "1.67.0"
"""The stable (v1) module line released together with :data:`COLLECTOR_VERSION` (confmap providers)."""
BUILDER_MODULE: Final = "go.opentelemetry.io/collector/cmd/builder"

JAEGER_MODULE: Final = "github.com/jaegertracing/jaeger"
JAEGER_PACKAGE: Final = "github.com/jaegertracing/jaeger/cmd/jaeger"
JAEGER_COMMIT: Final = "798e4b0fcf22609e381df764a01461affd813e1e"
"""Jaeger v2.20.0. Tried first with ``go install <package>@<commit>`` (v2 tags are not valid Go module versions)."""
JAEGER_FALLBACK_VERSION: Final = "v1.76.0"
"""Jaeger v2.13.0 (the last release tagged on the v1 module line). Used when the module proxy refuses the commit:
built from a tiny wrapper module that carries Jaeger's own ``replace`` directive (docs/stack.md)."""
JAEGER_FALLBACK_RELEASE: Final = "2.13.0"
JAEGER_FALLBACK_REPLACES: Final = ("github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0",)

JAEGER_RELEASE: Final = "2.20.0"
"""Jaeger's official release archive, tried before any source build: its ``jaeger`` binary embeds the UI (a
``go install`` build serves a placeholder page). The same release as :data:`JAEGER_COMMIT`."""
JAEGER_RELEASE_URL: Final = "https://github.com/jaegertracing/jaeger/releases/download"
"""Default base URL of the archives (``$OTEL_CHATBOT_JAEGER_RELEASE_URL`` overrides it):
``<base>/v<version>/jaeger-<version>-<os>-<arch>.tar.gz``, holding ``jaeger-<version>-<os>-<arch>/jaeger``."""
JAEGER_RELEASE_SHA256: Final[Mapping[str, str]] = MappingProxyType(
    {
        # jaeger-2.20.0-linux-amd64.tar.gz, 58,367,331 bytes. Jaeger lists its archives' sums in the release's
        # jaeger-2.20.0.sha256sum.txt (written by its scripts/build/package-deploy.sh), which the machine this pin was
        # made on could not download (no access to GitHub). The sum is the one three independent public projects pin
        # for this asset: an installer that also pins its size, a deploy script that checks it with `sha256sum -c`,
        # and a write-up that computed it from the downloaded archive. docs/stack.md shows how to check it.
        "linux-amd64": "c967368ba09be356089ef7e8aab2a76d170dc007ff6ccf7925c8167ede2900d7",
    }
)
"""sha256 of each platform's release archive, checked before anything is extracted. A platform not listed here
(e.g. linux-arm64) builds Jaeger from source: an unverified download is never used."""

PROMETHEUS_DEBIAN_PACKAGE: Final = "prometheus"
PROMETHEUS_VERSION: Final = "2.42.0"
"""Debian bookworm's prometheus (2.42.0+ds-5+deb12u1); ``prometheus --version`` must report this release."""

GO_MINIMUM: Final = (1, 25)
"""The builder's go.mod needs Go 1.25; Jaeger v2.20.0 needs 1.26 (the fallback v2.13.0 builds with 1.25)."""

# Images of collector/docker-compose.yaml (the same releases as the native stack).
COLLECTOR_IMAGE: Final = f"otel/opentelemetry-collector-contrib:{COLLECTOR_VERSION}"
JAEGER_IMAGE: Final = f"jaegertracing/jaeger:{JAEGER_FALLBACK_RELEASE}"
PROMETHEUS_IMAGE: Final = f"prom/prometheus:v{PROMETHEUS_VERSION}"
