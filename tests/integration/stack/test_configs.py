"""Every config we ship is accepted by the binary that runs it, and the pinned versions agree everywhere."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_chatbot.stack import Binaries, StackPorts
from otel_chatbot.stack import _versions as versions
from otel_chatbot.stack._native import render_prometheus_config
from otel_chatbot.stack._paths import collector_dir

pytestmark = pytest.mark.stack

COLLECTOR_DIR = collector_dir()
COLLECTOR_CONFIGS = ["otelcol.yaml", "otelcol-agent.yaml", "otelcol-gateway.yaml"]


def _load(name: str) -> Any:
    return yaml.safe_load((COLLECTOR_DIR / name).read_text())


def _run(argv: list[str | Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a binary of the stack without OTEL_CHATBOT_* overrides, so the configs' own defaults are what it sees."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_CHATBOT_")}
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.mark.parametrize("config", COLLECTOR_CONFIGS)
def test_collector_config_validates(stack_binaries: Binaries, config: str) -> None:
    done = _run([stack_binaries.collector, "validate", "--config", COLLECTOR_DIR / config])
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_collector_config_is_rejected(stack_binaries: Binaries, tmp_path: Path) -> None:
    broken = (COLLECTOR_DIR / "otelcol.yaml").read_text().replace("exporters: [otlp_grpc/jaeger,", "exporters: [nope,")
    (tmp_path / "broken.yaml").write_text(broken)
    done = _run([stack_binaries.collector, "validate", "--config", tmp_path / "broken.yaml"])
    assert done.returncode != 0
    assert "nope" in done.stdout + done.stderr


def test_jaeger_config_validates(stack_binaries: Binaries) -> None:
    done = _run([stack_binaries.jaeger, "validate", "--config", COLLECTOR_DIR / "jaeger.yaml"])
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_checks_the_shipped_and_the_rendered_prometheus_config(
    stack_binaries: Binaries, tmp_path: Path
) -> None:
    shipped = _run([stack_binaries.promtool, "check", "config", "prometheus.yml"], cwd=COLLECTOR_DIR)
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert "SUCCESS" in shipped.stdout and "rule files found" in shipped.stdout
    rendered_path = tmp_path / "prometheus.yml"
    rendered_path.write_text(render_prometheus_config(COLLECTOR_DIR, StackPorts.free(), "1s"))
    rendered = _run([stack_binaries.promtool, "check", "config", rendered_path])
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr


def test_every_endpoint_is_an_env_variable_with_a_loopback_default() -> None:
    for name in [*COLLECTOR_CONFIGS, "jaeger.yaml"]:
        text = (COLLECTOR_DIR / name).read_text()
        endpoints = re.findall(r"(?m)^\s*(?:endpoint|host):\s*(\S+)", text)
        assert endpoints, name
        for value in endpoints:
            match = re.fullmatch(r"\$\{env:OTEL_CHATBOT_[A-Z_]+:-(\S+)\}", value)
            assert match is not None, f"{name}: {value} is not ${{env:OTEL_CHATBOT_...:-default}}"
            assert re.match(r"(https?://)?127\.0\.0\.1(:|$)", match[1]), f"{name}: {value} is not loopback"


def test_span_metrics_dimensions_buckets_and_pipelines() -> None:
    config = _load("otelcol.yaml")
    span_metrics = config["connectors"]["span_metrics"]
    assert [d["name"] for d in span_metrics["dimensions"]] == [
        "chatbot.stage",
        "gen_ai.operation.name",
        "gen_ai.request.model",
        "gen_ai.provider.name",
        "chatbot.variant",
        "chatbot.cache.hit",
    ]
    assert span_metrics["histogram"]["explicit"]["buckets"][0] == "10ms"
    assert span_metrics["histogram"]["explicit"]["buckets"][-1] == "81920ms"
    assert len(span_metrics["histogram"]["explicit"]["buckets"]) == 14
    pipelines = config["service"]["pipelines"]
    # no `batch` processor on the traces path: it would hold accepted spans in memory (the queue batches on disk)
    assert pipelines["traces"]["processors"] == ["memory_limiter"]
    assert pipelines["traces"]["exporters"] == ["otlp_grpc/jaeger", "span_metrics"]
    # tokens, cost, TTFC/TTFT and stage durations are the app's SDK metrics (exact under sampling), not span-derived
    assert "signal_to_metrics" not in config.get("connectors", {})
    assert pipelines["metrics"] == {
        "receivers": ["otlp"],
        "processors": ["memory_limiter", "batch"],
        "exporters": ["prometheus"],
    }
    assert set(pipelines) == {"traces", "metrics/spans", "metrics"}
    assert config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]["port"] == (
        "${env:OTEL_CHATBOT_COLLECTOR_TELEMETRY_PORT:-18888}"
    )


def test_the_single_collector_queues_spans_for_jaeger_on_disk() -> None:
    config = _load("otelcol.yaml")
    storage = config["extensions"]["file_storage/queue"]
    assert storage["directory"] == "${env:OTEL_CHATBOT_COLLECTOR_STORAGE_DIR:-/tmp/otelcol-chatbot-queue}"
    assert storage["compaction"]["on_rebound"] is True and storage["max_size"] > 0
    assert "file_storage/queue" in config["service"]["extensions"]
    jaeger = config["exporters"]["otlp_grpc/jaeger"]
    queue = jaeger["sending_queue"]
    assert queue["storage"] == "file_storage/queue"
    assert queue["sizer"] == "bytes" and queue["queue_size"] <= storage["max_size"]
    assert queue["batch"]["sizer"] == "items" and queue["batch"]["flush_timeout"] == "200ms"
    assert jaeger["retry_on_failure"]["max_elapsed_time"] == "0s"  # never given up while Jaeger is down


def test_jaeger_stores_traces_in_badger_with_a_retention() -> None:
    config = _load("jaeger.yaml")
    backends = config["extensions"]["jaeger_storage"]["backends"]
    assert list(backends) == ["badger", "memory"]
    badger = backends["badger"]["badger"]
    folder = "${env:OTEL_CHATBOT_JAEGER_BADGER_DIR:-/tmp/jaeger-chatbot-badger}"
    assert badger["directories"] == {"keys": f"{folder}/keys", "values": f"{folder}/values"}
    assert badger["ephemeral"] is False
    assert badger["ttl"]["spans"] == "${env:OTEL_CHATBOT_JAEGER_RETENTION:-72h}"
    storage = "${env:OTEL_CHATBOT_JAEGER_STORAGE:-badger}"  # badger unless the memory store is asked for
    assert config["extensions"]["jaeger_query"]["storage"]["traces"] == storage
    assert config["exporters"]["jaeger_storage_exporter"]["trace_storage"] == storage
    assert backends["memory"]["memory"]["max_traces"] == "${env:OTEL_CHATBOT_JAEGER_MAX_TRACES:-100000}"
    # no `batch` processor: Jaeger answers the collector once the spans are stored, not while they wait in memory
    assert "processors" not in config["service"]["pipelines"]["traces"]


def test_gateway_derives_the_same_metrics_as_the_single_collector() -> None:
    assert _load("otelcol-gateway.yaml")["connectors"] == _load("otelcol.yaml")["connectors"]


def test_agent_routes_by_trace_id_to_the_gateways() -> None:
    agent = _load("otelcol-agent.yaml")
    assert agent["exporters"]["loadbalancing"]["routing_key"] == "traceID"
    assert agent["service"]["pipelines"]["traces"]["exporters"] == ["loadbalancing"]
    # every SDK-metric stream of one app process (its resource) reaches one gateway's prometheus exporter
    assert agent["exporters"]["loadbalancing/metrics"]["routing_key"] == "resource"
    assert agent["service"]["pipelines"]["metrics"]["exporters"] == ["loadbalancing/metrics"]


@pytest.mark.parametrize("config", ["otelcol.yaml", "otelcol-gateway.yaml"])
def test_prometheus_exporter_keeps_workers_apart_and_names_the_service(config: str) -> None:
    prometheus = _load(config)["exporters"]["prometheus"]
    assert prometheus["resource_constant_labels"] == {"included": ["service.name"]}
    # job/instance come from service.name/service.instance.id; converting every resource attribute would drop them
    assert not prometheus.get("resource_to_telemetry_conversion", {}).get("enabled", False)


def test_jaeger_spm_reads_the_span_metrics_names() -> None:
    prom = _load("jaeger.yaml")["extensions"]["jaeger_storage"]["metric_backends"]["span_metrics_prometheus"]
    assert prom["prometheus"]["normalize_calls"] is True
    assert prom["prometheus"]["normalize_duration"] is True


def test_manifest_pins_one_release() -> None:
    manifest = _load("manifest.yaml")
    assert manifest["dist"]["version"] == versions.COLLECTOR_VERSION
    modules = [
        c["gomod"]
        for kind in ("receivers", "processors", "exporters", "connectors", "extensions")
        for c in manifest[kind]
    ]
    assert all(m.endswith(f" v{versions.COLLECTOR_VERSION}") for m in modules), modules
    providers = [c["gomod"] for c in manifest["providers"]]
    assert all(m.endswith(f" v{versions.COLLECTOR_STABLE_VERSION}") for m in providers), providers
    wanted = {
        "otlpreceiver",
        "batchprocessor",
        "memorylimiterprocessor",
        "otlpexporter",
        "prometheusexporter",
        "spanmetricsconnector",
        "healthcheckextension",
        "filestorage",
        "loadbalancingexporter",
    }
    built = {m.split()[0].rsplit("/", 1)[1] for m in modules}
    assert wanted <= built
    # gone with issue 10, when tokens/cost/TTFT became the app's SDK metrics: nothing uses them
    assert not {"signaltometricsconnector", "deltatocumulativeprocessor"} & built


def test_docker_compose_pins_our_releases_and_mounts_the_same_configs() -> None:
    compose = _load("docker-compose.yaml")
    services = compose["services"]
    assert services["otelcol"]["image"] == versions.COLLECTOR_IMAGE
    assert services["jaeger"]["image"] == versions.JAEGER_IMAGE
    assert services["prometheus"]["image"] == versions.PROMETHEUS_IMAGE
    mounts = {
        name: {m.split(":")[0]: m.split(":")[1] for m in service["volumes"] if m.startswith("./")}
        for name, service in services.items()
    }
    assert mounts["otelcol"]["./otelcol.yaml"] == "/etc/otelcol-contrib/config.yaml"
    assert "--config=/etc/otelcol-contrib/config.yaml" in services["otelcol"]["command"]
    assert mounts["jaeger"]["./jaeger.yaml"] == "/etc/jaeger/config.yaml"
    assert services["jaeger"]["command"] == ["--config", "/etc/jaeger/config.yaml"]
    assert mounts["prometheus"]["./prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    # rule_files are relative to prometheus.yml, so the rules folder is mounted beside it
    assert mounts["prometheus"]["./prometheus/rules"] == "/etc/prometheus/prometheus/rules"
    # the collector's queue and Jaeger's traces live on named volumes, where the configs' variables point
    assert "otelcol-queue:/var/lib/otelcol-chatbot/queue" in services["otelcol"]["volumes"]
    assert services["otelcol"]["environment"]["OTEL_CHATBOT_COLLECTOR_STORAGE_DIR"] == "/var/lib/otelcol-chatbot/queue"
    assert "jaeger-badger:/var/lib/jaeger-chatbot/badger" in services["jaeger"]["volumes"]
    assert services["jaeger"]["environment"]["OTEL_CHATBOT_JAEGER_BADGER_DIR"] == "/var/lib/jaeger-chatbot/badger"
    assert {"otelcol-queue", "jaeger-badger"} <= set(compose["volumes"])
    for name, service in services.items():
        assert service["network_mode"] == "host", name  # the files' 127.0.0.1 addresses stay valid
        for source in mounts[name]:
            assert (COLLECTOR_DIR / source).exists(), source
