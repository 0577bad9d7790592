"""OpenLIT (``openlit.init()``), run with ``.venv-openlit``'s interpreter (``scripts/_openlit_venv.sh``).

``openlit.init()`` takes no tracer provider: it reuses the global SDK one, which ``configure()`` has set by then
(otherwise it installs its own, printing spans to the console). Its events are off (they would go to the console
too) and its price list is an empty local file (by default it downloads one at start-up).
"""

from __future__ import annotations

import os
import tempfile

from tests.instrumentations import _scenario


def instrument() -> None:
    import openlit  # type: ignore[import-not-found, unused-ignore]

    prices = os.path.join(tempfile.mkdtemp(prefix="openlit-"), "pricing.json")
    with open(prices, "w", encoding="utf-8") as out:
        out.write("{}")
    openlit.init(
        service_name="scenario", disable_batch=True, disable_events=True, disable_metrics=True, pricing_json=prices
    )


if __name__ == "__main__":
    _scenario.run(instrument, ["openai", "anthropic"])
