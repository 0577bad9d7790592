"""``python -m examples.llm_server [--port 0 --port-file F] [latency and failure options]``."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence

from examples._serve import missing_extra

with missing_extra("llm_server"):
    from examples._serve import serve
    from examples.llm_server.server import ServerConfig, create_app


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, ServerConfig]:
    parser = argparse.ArgumentParser(prog="python -m examples.llm_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port (see --port-file)")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    defaults = ServerConfig()
    for field in dataclasses.fields(ServerConfig):
        if field.name == "api_key":
            continue
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        kind = _flag if isinstance(default, bool) else type(default)
        parser.add_argument(flag, type=kind, default=default, help=f"default {default}")
    parser.add_argument(
        "--require-api-key",
        action="store_true",
        help="require Authorization: Bearer $OPENAI_API_KEY (OpenAI's 401 otherwise)",
    )
    args = parser.parse_args(argv)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(ServerConfig) if f.name != "api_key"}
    api_key = os.environ.get("OPENAI_API_KEY") if args.require_api_key else None
    return args, ServerConfig(**values, api_key=api_key)


def main(argv: Sequence[str] | None = None) -> int:
    args, config = parse_args(argv)
    return serve(create_app(config), host=args.host, port=args.port, port_file=args.port_file, name="llm_server")


if __name__ == "__main__":
    sys.exit(main())
