"""Token/USD accumulators, exact in integer nano-dollars, and a bounded top-N + "other" table of them."""

from __future__ import annotations

from otel_chatbot.snapshot import OTHER, UsageStats

_NANO = 1_000_000_000


class UsageAcc:
    """Calls, tokens and USD (integer nano-USD, so sums never drift)."""

    __slots__ = ("calls", "input_tokens", "output_tokens", "cache_read_tokens", "cost_nusd", "unpriced")

    def __init__(self) -> None:
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_read_tokens = 0
        self.cost_nusd = 0
        self.unpriced = 0

    def add(self, inp: int, out: int, cache_read: int, nusd: int | None) -> None:
        self.calls += 1
        self.input_tokens += inp
        self.output_tokens += out
        self.cache_read_tokens += cache_read
        if nusd is None:
            self.unpriced += 1
        else:
            self.cost_nusd += nusd

    def merge(self, other: UsageAcc) -> None:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cost_nusd += other.cost_nusd
        self.unpriced += other.unpriced

    def frozen(self, key: str) -> UsageStats:
        return UsageStats(
            key=key,
            calls=self.calls,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cost_usd=self.cost_nusd / _NANO,
            unpriced_calls=self.unpriced,
        )


class BoundedUsage:
    """Usage per key for at most ``2 × capacity`` keys; the smallest are folded into ``"other"``.

    Totals stay exact (nothing is dropped, only merged into "other"). Compaction sorts once per ``capacity`` new keys,
    so the amortised cost of a new key is O(log capacity) rather than a scan per call.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.keys: dict[str, UsageAcc] = {}
        self.other = UsageAcc()

    def add(self, key: str, inp: int, out: int, cache_read: int, nusd: int | None) -> None:
        acc = self.keys.get(key)
        if acc is None:
            if len(self.keys) >= 2 * self.capacity:
                self._compact()
            acc = self.keys[key] = UsageAcc()
        acc.calls += 1  # UsageAcc.add, inlined (a priced span updates two of these tables)
        acc.input_tokens += inp
        acc.output_tokens += out
        acc.cache_read_tokens += cache_read
        if nusd is None:
            acc.unpriced += 1
        else:
            acc.cost_nusd += nusd

    def _compact(self) -> None:
        ranked = sorted(self.keys.items(), key=lambda kv: (kv[1].cost_nusd, kv[1].input_tokens + kv[1].output_tokens))
        for key, acc in ranked[: len(ranked) - self.capacity]:
            self.other.merge(acc)
            del self.keys[key]

    def frozen(self) -> tuple[UsageStats, ...]:
        """Top ``capacity`` keys by cost (then tokens), then ``"other"`` if anything was folded."""
        ranked = sorted(
            self.keys.items(), key=lambda kv: (-kv[1].cost_nusd, -(kv[1].input_tokens + kv[1].output_tokens), kv[0])
        )
        other = UsageAcc()
        other.merge(self.other)
        for _, acc in ranked[self.capacity :]:
            other.merge(acc)
        out = [acc.frozen(key) for key, acc in ranked[: self.capacity]]
        if other.calls:
            out.append(other.frozen(OTHER))
        return tuple(out)
