"""``otel-chatbot pricing MODEL``: a model's price per 1M tokens and the cost of one call."""

from __future__ import annotations

import argparse

from otel_chatbot.spend._pricing import TokenUsage, compute_cost, default_table, similar_models


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CLI: ``otel-chatbot pricing MODEL [--provider P] [--input N] [--output N] [--cached N]``."""
    parser.add_argument("model")
    parser.add_argument("--provider", default=None)
    parser.add_argument("--input", type=int, default=1000, help="input tokens (default 1000)")
    parser.add_argument("--output", type=int, default=500, help="output tokens (default 500)")
    parser.add_argument("--cached", type=int, default=0, help="of the input, tokens read from cache")


def run(args: argparse.Namespace) -> int:
    """CLI: print the price per 1M tokens and the cost of one call."""
    price = default_table().lookup(args.model, args.provider)
    if price is None:
        print(f"unknown model {args.model!r}: no price (spans get chatbot.cost.unknown_model = true)")
        similar = similar_models(args.model, args.provider)
        if similar:
            print("did you mean: " + ", ".join(similar) + "?")
        print("to price it yourself: configure(prices={...}) or OTEL_CHATBOT_PRICES_FILE (docs/configuration.md)")
        return 1
    usage = TokenUsage(input_tokens=args.input, output_tokens=args.output, cache_read_tokens=args.cached)
    print(
        f"{args.model}: input ${price.input_mtok}/1M, output ${price.output_mtok}/1M, "
        f"cache read ${price.cache_read_mtok if price.cache_read_mtok is not None else price.input_mtok}/1M"
    )
    if price._genai is not None:  # every unit genai-prices prices (audio, 1-hour cache writes, web searches...)
        print(f"all units ({price.version}): {price._genai}")
    print(
        f"cost of {args.input} input ({args.cached} cached) + {args.output} output tokens: "
        f"${compute_cost(usage, price)}"
    )
    return 0
