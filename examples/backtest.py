"""A deterministic backtest on the paper market: a moving-average rule on 005930, day by day.

Each replayed trading day, at 09:30 the strategy reads the daily candles the market has (only
what had happened by then: yesterday's close is the last complete one) and buys 10 shares at the
ask when yesterday closed above its 5-day average; it sells all it holds at 15:00. The script
drives the simulator's market clock through the control service, so the same seed and the same
range always give the same fills.

    python examples/backtest.py                         # an in-process simulator, 2026-02-02 to 2026-03-17
    jts-broker serve --control --paused --from 2026-02-02 &
    python examples/backtest.py --target 127.0.0.1:50551
"""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from jts_broker import BrokerConfig, GrpcBrokerGateway, Side, Timeframe, limit_order, market_order
from jts_broker.client.simulator_control import SimulatorControl
from jts_broker.domain.timeutil import KST
from jts_broker.domain.trading import Order

CODE = "005930"


def run(target: str | None, start: date, end: date, seed: int = 0) -> dict[str, object]:
    """Run the backtest; its fills and final equity, as plain data (KRW as strings)."""
    with ExitStack() as stack:
        if target is None:
            from jts_broker.server import SimulatorServer

            server = stack.enter_context(SimulatorServer(start=start, end=end, speed=0, seed=seed, control=True))
            target = server.target
        control = stack.enter_context(SimulatorControl(target))
        gateway = stack.enter_context(GrpcBrokerGateway(BrokerConfig.from_target(target)))
        control.pause()
        control.reset_accounts()
        account = gateway.get_accounts()[0].account_id
        fills: list[dict[str, str]] = []
        state = control.clock()
        while not state.ended:
            day = state.trading_day
            state = control.advance(to=datetime.combine(day, time(9, 30), tzinfo=KST))
            history = gateway.get_candles(CODE, Timeframe.DAY, day - timedelta(days=20), day)
            complete = [c for c in history if c.time.date() < day]  # today's bar is partial
            closes = [c.close for c in complete[-5:]]
            if len(closes) == 5 and closes[-1] > sum(closes) / 5:
                quote = gateway.get_quote(CODE)
                result = gateway.place_order(limit_order(account, CODE, Side.BUY, 10, quote.ask, client_order_id=f"bt-buy-{day}"))
                fills.append(_fill(result.order))
            state = control.advance(to=datetime.combine(day, time(15, 0), tzinfo=KST))
            held = next((p.quantity for p in gateway.get_positions(account) if p.symbol == CODE), 0)
            if held:
                result = gateway.place_order(market_order(account, CODE, Side.SELL, held, client_order_id=f"bt-sell-{day}"))
                fills.append(_fill(result.order))
            state = control.advance(to=datetime.combine(day, time(15, 40), tzinfo=KST))  # the day ends
            if not state.ended:
                state = control.advance(steps=1)  # the next trading day's 08:30
        balance = gateway.get_balance(account)
        return {"fills": fills, "equity": str(balance.total_equity), "realized_pnl": str(balance.realized_pnl),
                "days": state.day_count}


def _fill(order: Order) -> dict[str, str]:
    return {"time": order.created_time.isoformat(), "side": order.side.value, "quantity": str(order.filled_quantity),
            "price": str(order.average_fill_price or Decimal(0)), "status": order.status.value}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", help="a simulator served with --control --paused (default: one in this process)")
    p.add_argument("--from", dest="start", type=date.fromisoformat, default=date(2026, 2, 2))
    p.add_argument("--to", dest="end", type=date.fromisoformat, default=date(2026, 3, 17))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    print(json.dumps(run(args.target, args.start, args.end, args.seed), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
