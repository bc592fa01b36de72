"""``jts-broker limits [--watch]``: rate-limit budgets and their usage, live.

With a shared backend (``sqlite:///`` or ``redis://`` in the config file) the bars count the
tokens of every process using the budget, so ``--watch`` in one terminal shows the load another
process drives. With the default in-memory backend only this process's calls are visible.
"""

from __future__ import annotations

import time

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from jts_broker import BrokerType, IRateLimiter, RateLimitPolicy

BAR_WIDTH = 30


def _bar(fraction: float) -> Text:
    filled = round(min(1.0, fraction) * BAR_WIDTH)
    style = "green" if fraction < 0.7 else "yellow" if fraction < 0.95 else "red"
    return Text("█" * filled, style=style) + Text("░" * (BAR_WIDTH - filled), style="dim")


def usage_table(limiter: IRateLimiter, title: str) -> Table:
    t = Table(title=escape(title), title_justify="left")
    for column, justify in (("budget", "left"), ("window", "right"), ("usage", "left"), ("used", "right"), ("waiting", "right"),
                            ("wait p50", "right"), ("wait p95", "right"), ("denials", "right")):
        t.add_column(column, justify=justify)  # type: ignore[arg-type]
    for usage in limiter.usages():
        category = usage.category.value + ("" if limiter.policy.order is not None else " + order")
        for i, window in enumerate(usage.windows):
            first = i == 0
            t.add_row(category if first else "", f"{window.interval_s:g} s", _bar(window.utilization), f"{window.used}/{window.limit}",
                      str(usage.waiting) if first else "", f"{usage.wait_p50_s * 1000:.0f} ms" if first else "",
                      f"{usage.wait_p95_s * 1000:.0f} ms" if first else "", str(usage.denials) if first else "")
    return t


def presets_table() -> Table:
    t = Table(title="Presets", title_justify="left")
    t.add_column("broker")
    t.add_column("published windows (default)")
    t.add_column("spec (TC-002)")
    for broker in (BrokerType.KIS, BrokerType.CREON, BrokerType.KIWOOM):
        t.add_row(broker.value, str(RateLimitPolicy.published(broker)), str(RateLimitPolicy.spec(broker)))
    return t


def show(console: Console, limiter: IRateLimiter, name: str, watch: bool, interval_s: float, duration_s: float | None) -> None:
    backend = limiter.policy.backend
    title = f"{name}: {limiter.policy} [{backend}, key {limiter.policy.key}]; waits and denials: this process"
    note = Text("in-memory backend: only this process's calls are counted; share a budget with backend = sqlite:///... or redis://...",
                style="dim") if backend == "memory" else Text("")
    if not watch:
        console.print(Group(usage_table(limiter, title), note, presets_table()))
        return
    stop_at = None if duration_s is None else time.monotonic() + duration_s
    with Live(Group(usage_table(limiter, title), note), console=console, refresh_per_second=max(1.0, 1 / interval_s)) as live:
        try:
            while stop_at is None or time.monotonic() < stop_at:
                time.sleep(interval_s)
                live.update(Group(usage_table(limiter, title), note))
        except KeyboardInterrupt:
            pass
