"""``jts-broker demo``: the main job end to end over real gRPC, on one machine.

Starts the simulator in-process on a free loopback port, connects ``GrpcBrokerGateway`` to it
and walks through what a trading script does: find a symbol, read candles and a quote, check the
paper balance, buy (filled), look at positions, place an order away from the market and cancel
it, list orders, move the market clock with the control service and watch a resting order fill, show the rate-limit budget the calls drew from and the order journal that
recorded every order, and restart the server under the connected gateway to show it reconnect
by itself. It writes nothing outside a temporary folder (the journal lives there), so any user
can run it.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from jts_broker import BrokerConfig, ConnectionStatus, GrpcBrokerGateway, OrderStatus, Side, Timeframe, limit_order
from jts_broker.client.simulator_control import SimulatorControl
from jts_broker.domain import krx
from jts_broker.domain.timeutil import KST
from jts_broker.server import SimulatorServer

from .render import record, table
from .sim import clock_line

CODE = "005930"


def run(console: Console) -> None:
    with (SimulatorServer(speed=0, control=True) as server, SimulatorControl(server.target) as control,
          tempfile.TemporaryDirectory(prefix="jts-demo-") as scratch):
        console.print(f"[bold]Simulator[/] serving real KRX prices on {server.target}, {len(server.market.symbols()):,} listed symbols; "
                      f"market clock: {clock_line(control.clock())}\n")
        journal = Path(scratch) / "order-journal.sqlite"
        with GrpcBrokerGateway(BrokerConfig.from_target(server.target, order_journal=journal)) as gateway:
            found = gateway.get_symbols("삼성전자")
            console.print(table("1. Symbol search: '삼성전자'", found, ["code", "name", "market", "security_type", "sector"]))

            session = server.market.session_date
            candles = gateway.get_candles(CODE, Timeframe.DAY, session - timedelta(days=45), session)[-20:]
            console.print(table(f"2. Last {len(candles)} daily candles of {CODE} (KRW; the last is today's session so far)", candles,
                                ["time", "open", "high", "low", "close", "volume"], numeric=["open", "high", "low", "close", "volume"]))

            quote = gateway.get_quote(CODE)
            console.print(record(f"3. Quote of {CODE}", quote, ["time", "price", "previous_close", "bid", "ask", "upper_limit", "lower_limit", "volume"]))

            account = gateway.get_accounts()[0].account_id
            console.print(record(f"4. Paper balance of {account} (KRW)", gateway.get_balance(account),
                                 ["cash", "buying_power", "market_value", "total_equity"]))

            bought = gateway.place_order(limit_order(account, CODE, Side.BUY, 10, quote.ask))
            console.print(record(f"5. Limit buy 10 x {CODE} at {quote.ask:,} (the ask): {bought.status.value}", bought.order,
                                 ["order_id", "client_order_id", "status", "filled_quantity", "average_fill_price", "commission"]))

            console.print(table("6. Positions", gateway.get_positions(account),
                                ["symbol", "quantity", "sellable_quantity", "average_price", "last_price", "market_value", "unrealized_pnl"],
                                numeric=["quantity", "sellable_quantity", "average_price", "last_price", "market_value", "unrealized_pnl"]))

            low_bid = krx.round_to_tick(quote.price * Decimal("0.9"))
            working = gateway.place_order(limit_order(account, CODE, Side.BUY, 5, low_bid))
            cancelled = gateway.cancel_order(working.order_id)
            console.print(f"7. Limit buy 5 x {CODE} at {low_bid:,} (below the market): {working.status.value}; "
                          f"cancelled: {cancelled.status.value}\n")

            dip = krx.previous_tick(quote.price)
            resting = gateway.place_order(limit_order(account, CODE, Side.BUY, 3, dip))
            state = control.advance(to=datetime.combine(server.market.session_date, dt_time(15, 25), tzinfo=KST))
            filled = gateway.get_order_status(resting.order_id)
            console.print(f"8. Limit buy 3 x {CODE} at {dip:,} (a tick under the market): {resting.status.value}; clock advanced "
                          f"(`jts-broker sim advance --to ...`) to {clock_line(state)}: {filled.status.value}"
                          f"{f' at {filled.average_fill_price:,}' if filled.average_fill_price else ''}\n")

            orders = gateway.list_orders(account)
            console.print(table("9. Today's orders", orders, ["order_id", "side", "quantity", "price", "status", "filled_quantity", "average_fill_price"],
                                numeric=["quantity", "price", "filled_quantity", "average_fill_price"]))

            recorded = gateway.order_journal.entries() if gateway.order_journal else []
            console.print(f"10. Order journal {journal.name}: {len(recorded)} orders written down before they left, "
                          f"{len(gateway.unresolved_orders())} unresolved (a crashed run's would be settled by the next connect())")
            usage = gateway.rate_limiter.usage()
            console.print(f"11. Rate limit ({gateway.config.broker_type.value.upper()} budget {gateway.rate_limiter.rate_limit}): "
                          f"{usage.total} calls made, {usage.used}/{usage.limit} in the last {usage.window_s:g} s window, "
                          f"{usage.waiting} waiting")
            latency_ms = gateway.check_health() * 1000
            changes = [gateway.status.value]
            gateway.subscribe_status(lambda change: changes.append(change.status.value))
            server.restart(0)
            after = gateway.get_quote(CODE)  # retried with backoff while the channel reconnects
            deadline = time.monotonic() + 10
            # Listeners are told on the gateway's status thread: wait until ours has heard it too.
            while (gateway.status is not ConnectionStatus.CONNECTED or changes[-1] != "connected") and time.monotonic() < deadline:
                time.sleep(0.01)
            console.print(f"12. Health check {latency_ms:.1f} ms; server restarted: status {' -> '.join(changes)}; "
                          f"reads resumed by themselves (quote {after.price:,})")
            if bought.status is not OrderStatus.FILLED or cancelled.status is not OrderStatus.CANCELLED:
                raise SystemExit(f"demo failed: buy {bought.status.value}, cancel {cancelled.status.value}")
    console.print("\n[bold green]Demo complete.[/]")
