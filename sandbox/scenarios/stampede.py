"""The `stampede` scenario's shoppers: most of them want one hot product at the same time.

When a hot entry expires, every request that misses before someone has stored it again goes
to the database for the same row. With a slow database that window is long and the misses
pile up: a cache stampede (a thundering herd). These shoppers watch how many times the hot
product was loaded from the database in the second after each expiry, and what that did to
the slowest requests; `cache.stampede_protection` is the switch that tames it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.scenarios.metrics import percentile
from sandbox.scenarios.mix import Action, Shoppers

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox
    from sandbox.tracing import Trace

HOT_PRODUCT = 1  # the shop's best seller
HOT_SHARE = 0.9  # of all requests; the rest is the shop's ordinary mix
WINDOW_MS = 1000.0  # "the second after expiry"


class StampedeShoppers(Shoppers):
    """The ordinary mix, with four requests in five for the hot product's page."""

    observes = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hot_loads: list[float] = []  # when each database load of the hot product began
        self._hot: list[tuple[float, float]] = []  # (start, latency) of each hot page view
        self._protection: dict[str, int] = {"lock_waits": 0, "stale_served": 0,
                                            "early_refreshes": 0}

    def action(self) -> str:
        if self.rng.random() < HOT_SHARE:
            return "view_hot_product"
        return super().action()

    def build(self, name: str, user_id: int) -> Action:
        if name == "view_hot_product":
            return Action(name, "GET", f"/products/{HOT_PRODUCT}")
        return super().build(name, user_id)

    def observe(self, action: str, trace: Trace) -> None:
        if action != "view_hot_product":
            return
        root = trace.root
        self._hot.append((root.start_ms, root.duration_ms))
        counts = trace.counts
        if counts.get("cache.loads"):
            self._hot_loads.append(root.start_ms)
        for name in self._protection:
            self._protection[name] += counts.get("cache." + name, 0)

    def report(self, sandbox: Sandbox) -> dict[str, Any]:
        # Loads come in bursts: a burst starts with the first load after a second without
        # one (its entry had expired, or an early refresh began), and counts the loads in
        # the second from there. The first burst is the cold start: nothing was cached yet.
        bursts: list[list[float]] = []
        for when in sorted(self._hot_loads):
            if bursts and when < bursts[-1][0] + WINDOW_MS:
                bursts[-1].append(when)
            else:
                bursts.append([when])
        cold, expiries = (bursts[0], bursts[1:]) if bursts else ([], [])
        per_expiry = [len(burst) for burst in expiries]
        after: list[float] = []
        starts = [burst[0] for burst in expiries]
        for start, latency in self._hot:
            if any(s <= start < s + WINDOW_MS for s in starts):
                after.append(latency)
        every = sorted(latency for _, latency in self._hot)
        return {"cache": {"stampede": {
            "hot_key": f"product:{HOT_PRODUCT}",
            "protection": sandbox.settings.cache.stampede_protection,
            "expiries": len(expiries),
            "db_loads_after_expiry_max": max(per_expiry, default=0),
            "db_loads_after_expiry_mean": (round(sum(per_expiry) / len(per_expiry), 2)
                                           if per_expiry else 0.0),
            "db_loads_cold_start": len(cold),
            "db_loads_total": len(self._hot_loads),
            # the hot page's slowest views: over the whole run, and in the seconds after expiry
            "hot_p99_ms": round(percentile(every, 99), 3),
            "hot_p99_after_expiry_ms": round(percentile(sorted(after), 99), 3),
            **self._protection,
        }}}
