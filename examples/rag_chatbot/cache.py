"""A response cache: the same first question, from the same tenant under the same prompt variant, within the TTL, is
answered from memory."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict

_SPACES = re.compile(r"\s+")


def cache_key(tenant: str, variant: str, question: str) -> str:
    """Case- and whitespace-insensitive key of a question, per tenant (never share answers across tenants) and
    prompt variant."""
    normalized = _SPACES.sub(" ", question.strip().lower())
    return hashlib.sha256(f"{tenant}\x00{variant}\x00{normalized}".encode()).hexdigest()


class ResponseCache:
    """An LRU cache with a time to live; thread-safe."""

    def __init__(self, max_entries: int = 1024, ttl_s: float = 600.0) -> None:
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl_s
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """The cached answer, or None (missing or expired)."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored, answer = entry
            if now - stored > self._ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return answer

    def put(self, key: str, answer: str) -> None:
        """Remember an answer."""
        with self._lock:
            self._entries[key] = (time.monotonic(), answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
