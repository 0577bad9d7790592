"""The native stack: otelcol-chatbot, Jaeger v2 and Prometheus as local processes on loopback.

Example::

    from otel_chatbot.stack import StackPorts, start_stack, stop_stack

    stack = start_stack(ports=StackPorts.free())  # run folder: ~/.local/state/otel-chatbot/stack
    print(stack.collector_otlp_grpc_url, stack.jaeger_url, stack.prometheus_url)
    stop_stack(stack.run_dir)
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from otel_chatbot import env
from otel_chatbot.stack import _runner as runner
from otel_chatbot.stack._build import Binaries, ensure_all
from otel_chatbot.stack._errors import StackError
from otel_chatbot.stack._paths import collector_dir, default_run_dir
from otel_chatbot.stack._ports import StackPorts, check_free

STATE_FILE = "stack.json"
PROCESS_NAMES = ("jaeger", "prometheus", "otelcol")
QUEUE_DIR = "otelcol-queue"
"""The collector's persistent sending queue, in the run folder (``OTEL_CHATBOT_COLLECTOR_STORAGE_DIR`` moves it)."""
BADGER_DIR = "jaeger-badger"
"""Jaeger's trace storage, in the run folder (``OTEL_CHATBOT_JAEGER_BADGER_DIR`` moves it)."""


@dataclasses.dataclass(frozen=True)
class RunningStack:
    """A started native stack: where each part listens, where its files are, which binaries run.

    Attributes:
        ports: The loopback addresses of every listener.
        run_dir: Folder with ``pids.json``, ``*.log``, the rendered ``prometheus.yml``, Prometheus' data, the
            collector's persistent queue (``otelcol-queue/``) and Jaeger's traces (``jaeger-badger/``).
        binaries: The executables that run (``binaries.collector`` also validates configs).
        config_dir: The folder the configs were read from (the package's copy of ``collector/``, or the checkout's).
    """

    ports: StackPorts
    run_dir: Path
    binaries: Binaries
    config_dir: Path

    @property
    def collector_otlp_grpc_url(self) -> str:
        """OTLP/gRPC endpoint for an app, e.g. ``configure("svc", endpoint=stack.collector_otlp_grpc_url)``."""
        return f"http://{self.ports.collector_otlp_grpc}"

    @property
    def collector_otlp_http_url(self) -> str:
        """OTLP/HTTP base URL (``/v1/traces`` is appended by exporters)."""
        return f"http://{self.ports.collector_otlp_http}"

    @property
    def collector_metrics_url(self) -> str:
        """The collector's prometheus exporter (span, token, cost, TTFT metrics), Prometheus text format."""
        return f"http://{self.ports.collector_prometheus}/metrics"

    @property
    def collector_health_url(self) -> str:
        """The collector's health_check extension."""
        return f"http://{self.ports.collector_health}/"

    @property
    def collector_telemetry_url(self) -> str:
        """The collector's own metrics (otelcol_receiver_accepted_spans, ...)."""
        return f"http://127.0.0.1:{self.ports.collector_telemetry_port}/metrics"

    @property
    def jaeger_url(self) -> str:
        """Jaeger query API and UI base URL (``/api/traces``, ``/api/metrics/latencies``, ...)."""
        return f"http://{self.ports.jaeger_query_http}"

    @property
    def prometheus_url(self) -> str:
        """Prometheus base URL (``/api/v1/query``, ...)."""
        return f"http://{self.ports.prometheus_listen}"

    def environ(self) -> dict[str, str]:
        """The ``OTEL_CHATBOT_*`` address variables of this stack (to start more processes with the same configs)."""
        return self.ports.environ()


def render_prometheus_config(config_dir: Path, ports: StackPorts, scrape_interval: str = "5s") -> str:
    """``collector/prometheus.yml`` with this stack's scrape targets, interval and absolute rule-file paths.

    Prometheus 2.42 expands no environment variables in its config, so the native stack writes this copy.
    """
    text = (config_dir / "prometheus.yml").read_text()
    replacements = {
        "127.0.0.1:8889": ports.collector_prometheus,
        "127.0.0.1:18888": f"127.0.0.1:{ports.collector_telemetry_port}",
    }
    for default, actual in replacements.items():
        text = text.replace(f'"{default}"', f'"{actual}"')
    text = re.sub(r"(?m)^(\s*(?:scrape|evaluation)_interval:)\s*\S+", lambda m: f"{m[1]} {scrape_interval}", text)
    # rule files are relative to the config file; the rendered copy lives in the run folder
    return re.sub(r'"(prometheus/rules/[^"]*)"', lambda m: json.dumps(str(config_dir / m[1])), text)


def _specs(
    binaries: Binaries, config_dir: Path, run_dir: Path, ports: StackPorts, process_env: Mapping[str, str]
) -> list[runner.ProcessSpec]:
    prometheus_config = run_dir / "prometheus.yml"
    prometheus_config.write_text(
        render_prometheus_config(config_dir, ports, process_env[env.OTEL_CHATBOT_PROMETHEUS_SCRAPE_INTERVAL])
    )
    return [
        runner.ProcessSpec(
            name="jaeger",
            argv=[str(binaries.jaeger), "--config", str(config_dir / "jaeger.yaml")],
            health_url=f"http://{ports.jaeger_query_http}/api/services",
            env=process_env,
        ),
        runner.ProcessSpec(
            name="prometheus",
            argv=[
                str(binaries.prometheus),
                f"--config.file={prometheus_config}",
                f"--storage.tsdb.path={run_dir / 'prometheus-data'}",
                "--storage.tsdb.retention.time=2d",
                f"--web.listen-address={ports.prometheus_listen}",
            ],
            health_url=f"http://{ports.prometheus_listen}/-/ready",
            env=process_env,
        ),
        runner.ProcessSpec(
            name="otelcol",
            argv=[str(binaries.collector), "--config", str(config_dir / "otelcol.yaml")],
            health_url=f"http://{ports.collector_health}/",
            env=process_env,
        ),
    ]


def _process_env(run_dir: Path, ports: StackPorts, extra_env: Mapping[str, str] | None) -> dict[str, str]:
    """The variables every process of the stack gets: addresses, intervals, and where the data on disk lives.

    The collector's persistent queue and Jaeger's Badger store default to folders of the run folder (created here),
    so a restarted process finds what its predecessor wrote (docs/stack.md "Persistence").
    """
    flush, scrape = env.OTEL_CHATBOT_METRICS_FLUSH_INTERVAL, env.OTEL_CHATBOT_PROMETHEUS_SCRAPE_INTERVAL
    queue, badger = env.OTEL_CHATBOT_COLLECTOR_STORAGE_DIR, env.OTEL_CHATBOT_JAEGER_BADGER_DIR
    process_env = {
        flush: os.environ.get(flush) or "15s",
        scrape: os.environ.get(scrape) or "5s",
        queue: os.environ.get(queue) or str(run_dir / QUEUE_DIR),
        badger: os.environ.get(badger) or str(run_dir / BADGER_DIR),
        **ports.environ(),
        **(extra_env or {}),
    }
    for folder in (process_env[queue], process_env[badger]):
        Path(folder).mkdir(parents=True, exist_ok=True)
    return process_env


def start_stack(
    *,
    run_dir: Path | None = None,
    ports: StackPorts | None = None,
    extra_env: Mapping[str, str] | None = None,
    binaries: Binaries | None = None,
    timeout: float = 90.0,
    log: Callable[[str], None] = print,
) -> RunningStack:
    """Build or reuse the binaries, start Jaeger, Prometheus and otelcol-chatbot on loopback, wait until healthy.

    Args:
        run_dir: Pids, logs, rendered configs, Prometheus data, the collector's queue and Jaeger's traces (default
            :func:`default_run_dir`).
        ports: Listening addresses (default :meth:`StackPorts.from_env`).
        extra_env: More variables for the processes, e.g. ``{env.OTEL_CHATBOT_METRICS_FLUSH_INTERVAL: "1s"}``.
        binaries: Already built binaries (default: :func:`~otel_chatbot.stack.build.ensure_all`).
        timeout: Seconds to wait for all three to be healthy.
        log: Where build progress goes (only when something must be built).

    Returns:
        The running stack (its URLs). If anything fails, what was started is stopped again.

    Raises:
        StackError: A missing toolchain, a failed build, a port in use, a process that does not come up.
    """
    run_dir = run_dir or default_run_dir()
    ports = ports or StackPorts.from_env()
    live = [r.name for r in runner.read_records(run_dir) if r.alive()]
    if live:
        raise StackError(f"a stack already runs from {run_dir} ({', '.join(live)}): `otel-chatbot stack down` first")
    check_free(ports.by_variable())
    binaries = binaries or ensure_all(log)
    config_dir = collector_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    process_env = _process_env(run_dir, ports, extra_env)
    stack = RunningStack(ports=ports, run_dir=run_dir, binaries=binaries, config_dir=config_dir)
    try:
        records = [runner.start(spec, run_dir) for spec in _specs(binaries, config_dir, run_dir, ports, process_env)]
        runner.wait_healthy(records, timeout=timeout)
    except BaseException:
        runner.stop(run_dir)
        raise
    state = {
        "ports": dataclasses.asdict(ports),
        "binaries": {k: str(v) for k, v in vars(binaries).items()},
        "config_dir": str(config_dir),
    }
    (run_dir / STATE_FILE).write_text(json.dumps(state))
    return stack


def load_stack(run_dir: Path | None = None) -> RunningStack | None:
    """The stack recorded in a run folder by :func:`start_stack`, or None.

    Raises:
        StackError: The record is unreadable (one line naming the file and what to do).
    """
    run_dir = run_dir or default_run_dir()
    path = run_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
        binaries = Binaries(**{k: Path(v) for k, v in state["binaries"].items()})
        ports = StackPorts(**state["ports"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise runner.corrupt_state(path, exc) from None
    config_dir = Path(state["config_dir"]) if "config_dir" in state else collector_dir()
    return RunningStack(ports=ports, run_dir=run_dir, binaries=binaries, config_dir=config_dir)


def stop_stack(run_dir: Path | None = None) -> list[str]:
    """Stop exactly the processes recorded in the run folder; return their names."""
    run_dir = run_dir or default_run_dir()
    stopped = runner.stop(run_dir)
    (run_dir / STATE_FILE).unlink(missing_ok=True)
    return stopped
