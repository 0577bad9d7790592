"""Token/USD accumulators, exact in integer nano-dollars: bounded top-N + "other" tables and the usage tables of
``stats.Aggregator``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from otel_chatbot.stats._snapshot import OTHER, UsageBreakdown, UsageStats

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


class UsageTables:
    """Usage of priced spans: one table keyed by every low-cardinality dimension, plus top-N users and conversations.

    Per-model, provider, stage, tenant and variant totals and the cost counter series are rolled up from the one
    table at snapshot time, so a priced span costs one update, not six.

    Args:
        top_n: Users and conversations kept by name.
        max_tenants: Tenants kept by name (the rest is ``"other"``; also bounds the ``chatbot_tenant_id`` label).
        max_series: Keys of the main table (then one ``"other"`` key per stage).
    """

    def __init__(self, *, top_n: int, max_tenants: int, max_series: int) -> None:
        self.combo: dict[tuple[str, str, str, str, str], UsageAcc] = {}  # (stage, model, provider, tenant, variant)
        self.by_user = BoundedUsage(top_n)
        self.by_conversation = BoundedUsage(top_n)
        self._tenants: set[str] = set()
        self._max_tenants = max_tenants
        self._max_series = max_series

    def _tenant(self, tenant: Any) -> str:
        if tenant is None:
            return ""
        if tenant in self._tenants:
            return str(tenant)
        if len(self._tenants) < self._max_tenants:
            self._tenants.add(str(tenant))
            return str(tenant)
        return OTHER

    def add(
        self,
        stage: str,
        model: Any,
        provider: Any,
        tenant: Any,
        variant: str | None,
        user: Any,
        conversation: Any,
        inp: int,
        out: int,
        cache_read: int,
        nusd: int | None,
    ) -> None:
        """Add one priced call."""
        combo = (
            stage,
            "" if model is None else str(model),
            "" if provider is None else str(provider),
            self._tenant(tenant),
            "" if variant is None else variant,
        )
        usage = self.combo.get(combo)
        if usage is None:
            if len(self.combo) >= self._max_series:
                combo = (stage, OTHER, OTHER, OTHER, OTHER)
                usage = self.combo.get(combo)
            if usage is None:
                usage = self.combo[combo] = UsageAcc()
        usage.add(inp, out, cache_read, nusd)
        if user is not None:
            self.by_user.add(str(user), inp, out, cache_read, nusd)
        if conversation is not None:
            self.by_conversation.add(str(conversation), inp, out, cache_read, nusd)

    def rollups(self) -> dict[str, dict[str, UsageAcc]]:
        """Totals per ``stage``, ``model``, ``provider``, ``tenant`` and ``variant``."""
        out: dict[str, dict[str, UsageAcc]] = {d: {} for d in ("stage", "model", "provider", "tenant", "variant")}
        for (stage, model, provider, tenant, variant), acc in self.combo.items():
            for dim, value in (
                ("stage", stage),
                ("model", model or "(unknown)"),
                ("provider", provider or "(unknown)"),
                ("tenant", tenant),
                ("variant", variant),
            ):
                if value:
                    table = out[dim]
                    if value not in table:
                        table[value] = UsageAcc()
                    table[value].merge(acc)
        return out

    def breakdown(self, rollups: dict[str, dict[str, UsageAcc]]) -> UsageBreakdown:
        """The frozen usage section of a snapshot."""
        return UsageBreakdown(
            by_model=_freeze(rollups["model"].items()),
            by_provider=_freeze(rollups["provider"].items()),
            by_stage=_freeze(rollups["stage"].items()),
            by_tenant=_freeze(rollups["tenant"].items()),
            by_variant=_freeze(rollups["variant"].items()),
            by_user=self.by_user.frozen(),
            by_conversation=self.by_conversation.frozen(),
        )


def _freeze(items: Iterable[tuple[str, UsageAcc]]) -> tuple[UsageStats, ...]:
    return tuple(sorted((acc.frozen(key) for key, acc in items), key=lambda u: (-u.cost_usd, -u.input_tokens, u.key)))
