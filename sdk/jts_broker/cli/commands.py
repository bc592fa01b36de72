"""The client commands of ``jts-broker``: market data, trading, the order journal and limits.

Each takes the parsed arguments and a connected-on-first-use gateway, prints a table or JSON,
and returns the exit code (0, or 1 when there is nothing to show that the user asked for).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import Any

from rich.console import Group
from rich.text import Text

from jts_broker.domain.enums import Market, OrderType, Side, Timeframe
from jts_broker.domain.errors import BrokerUnavailable, JtsBrokerError, OrderNotFound
from jts_broker.domain.gateway import IBrokerGateway
from jts_broker.domain.market_data import Candle, Quote, QuoteGap
from jts_broker.domain.provenance import ResultList
from jts_broker.domain.timeutil import now_kst
from jts_broker.domain.trading import OrderRequest
from jts_broker.domain.validation import check_symbols

from .limits import show as show_limits
from .render import cache_note, console, dump_json, fmt, jsonable, provenance, record, table

PRICE_COLUMNS = ["open", "high", "low", "close", "volume"]
ORDER_COLUMNS = ["order_id", "client_order_id", "symbol", "side", "order_type", "quantity", "price", "status", "filled_quantity",
                 "average_fill_price", "reject_reason"]
QUOTE_COLUMNS = ["symbol", "time", "price", "bid", "ask", "open", "high", "low", "previous_close", "volume"]
HISTORY_START = date(1980, 1, 1)  # before any KRX daily data: "all of it" when looking for where the data lies


def show(args: argparse.Namespace, value: Any, *renderables: Any) -> None:
    """``value`` as JSON, or the renderables (and, for cached data, a note saying so)."""
    if args.json:
        print(dump_json(value))
        return
    items = value.get("items", []) if isinstance(value, dict) else []
    note = cache_note(value) or next((n for n in map(cache_note, items) if n), "")
    console().print(Group(*renderables, *([Text(note, style="yellow")] if note else [])))


def symbols(args: argparse.Namespace, gateway: IBrokerGateway) -> int:
    found = gateway.get_symbols(args.search, Market(args.market) if args.market else None)
    if args.with_data:
        found = ResultList((s for s in found if not s.without_prices), source=found.source, cached_at=found.cached_at)
    show(args, found, table(f"{len(found):,} symbols{' with price data' if args.with_data else ''}{provenance(found)}", found, ["code", "name", "market", "security_type", "sector", "listed_date"]))
    return 0


def candles(args: argparse.Namespace, gateway: IBrokerGateway) -> int:
    timeframe = Timeframe(args.timeframe)
    found = gateway.get_candles(args.code, timeframe, args.start, args.end)
    if not found:
        print(f"jts-broker: no {timeframe.value} candles of {args.code} from {args.start} to {args.end}; {_data_range(gateway, args.code, timeframe)}",
              file=sys.stderr)
        return 1
    show(args, found, table(f"{args.code.upper()} {timeframe.value} candles, KRW ({len(found)}){provenance(found)}", found, ["time", *PRICE_COLUMNS],
                            numeric=PRICE_COLUMNS))
    return 0


def _data_range(gateway: IBrokerGateway, code: str, timeframe: Timeframe) -> str:
    """Where the server's candles of ``code`` lie, in words (an empty answer must say why)."""
    try:
        held = gateway.get_candles(code, timeframe, HISTORY_START, now_kst().date())
    except JtsBrokerError as exc:
        return f"the server could not say which it holds ({exc})"
    if not held:
        return f"the server holds no {timeframe.value} candles of {code}"
    return f"the server's {timeframe.value} candles of {code} run from {_when(held[0])} to {_when(held[-1])}"


def _when(candle: Candle) -> str:
    moment = candle.time
    return moment.date().isoformat() if (moment.hour, moment.minute) == (0, 0) else f"{moment:%Y-%m-%d %H:%M}"


def quote(args: argparse.Namespace, gateway: IBrokerGateway) -> int:
    quotes = [gateway.get_quote(code) for code in check_symbols(args.codes)]
    if len(quotes) == 1:
        [one] = quotes
        show(args, one, record(f"Quote of {one.symbol}{provenance(one)}", one))
    else:
        cached = next((q for q in quotes if provenance(q)), None)
        show(args, {"items": quotes}, table(f"Quotes{provenance(cached) if cached else ''}", quotes, QUOTE_COLUMNS,
                                             numeric=QUOTE_COLUMNS[2:]))
    return 0


def balance(args: argparse.Namespace, gateway: IBrokerGateway) -> int:
    found = gateway.get_balance(args.account)
    show(args, found, record(f"Balance of {found.account_id} ({found.currency}){provenance(found)}", found))
    return 0


def positions(args: argparse.Namespace, gateway: IBrokerGateway) -> int:
    found = gateway.get_positions(args.account)
    numeric = ["quantity", "sellable_quantity", "average_price", "last_price", "market_value", "unrealized_pnl"]
    show(args, found, table(f"Positions{provenance(found)}", found, ["account_id", "symbol", "symbol_name", *numeric], numeric=numeric))
    return 0


def orders(args: argparse.Namespace, gateway: IBrokerGateway) -> int:
    if args.unresolved:
        return unresolved(args, gateway)
    found = gateway.list_orders(args.account)
    show(args, {"items": found}, table("Orders", found, ORDER_COLUMNS, numeric=["quantity", "price", "filled_quantity", "average_fill_price"]))
    return 0


def unresolved(args: argparse.Namespace, gateway: IBrokerGateway) -> int:
    """The order journal's open orders, after asking the broker about them when it can be reached."""
    try:
        gateway.connect()  # settles what the broker can tell about
    except BrokerUnavailable as exc:
        print(f"jts-broker: {exc}; the journal is shown as it stands", file=sys.stderr)
    entries = gateway.unresolved_orders()
    columns = ["client_order_id", "account_id", "symbol", "side", "quantity", "price", "state", "updated_at", "detail"]
    show(args, {"items": entries}, table(f"Unresolved orders of the journal ({len(entries)})", entries, columns, numeric=["quantity", "price"]))
    return 0


def order(args: argparse.Namespace, gateway: IBrokerGateway) -> int:
    if (args.order_id is None) == (args.client_order_id is None):
        raise UsageError("give an ORDER_ID or --client-order-id ID (one of them)")
    if args.order_id is not None:
        found = gateway.get_order_status(args.order_id)
    else:
        try:
            found = gateway.get_order_by_client_id(args.client_order_id, args.account)
        except OrderNotFound:
            return _not_at_the_broker(args, gateway)
    show(args, found, record(f"Order {found.order_id}", found))
    return 0


def _not_at_the_broker(args: argparse.Namespace, gateway: IBrokerGateway) -> int:
    journal = getattr(gateway, "order_journal", None)  # the gRPC gateways keep one; the mock does not
    known = journal.find(args.client_order_id) if journal is not None else []
    said = "; ".join(f"the order journal has it as {e.state.value} in account {e.account_id}" + (f" ({e.detail})" if e.detail else "")
                     for e in known)
    print(f"jts-broker: error: the broker has no order with client order id {args.client_order_id}" + (f"; {said}" if said else ""),
          file=sys.stderr)
    return 1


def place(args: argparse.Namespace, gateway: IBrokerGateway) -> int:
    account = args.account or gateway.get_accounts()[0].account_id
    request = OrderRequest(account, args.code, Side(args.command), args.quantity, OrderType.LIMIT if args.price is not None else OrderType.MARKET,
                           args.price, client_order_id=args.client_order_id)
    result = gateway.place_order(request)
    show(args, result, record(f"Order {result.order_id}" + (" (duplicate: already placed)" if result.duplicate else ""), result.order))
    return 0


def cancel(args: argparse.Namespace, gateway: IBrokerGateway) -> int:
    cancelled = gateway.cancel_order(args.order_id)
    show(args, cancelled, record(f"Order {cancelled.order_id}", cancelled))
    return 0


def stream(args: argparse.Namespace, gateway: IBrokerGateway) -> int:
    """Live quotes, one line each, and the gaps of a broken stream, until Ctrl-C."""
    out = console()
    with gateway.stream_quotes(check_symbols(args.codes)) as quotes:
        for item in quotes:
            if args.json:
                kind = "gap" if isinstance(item, QuoteGap) else "quote"
                print(dump_json({"type": kind, **_fields(item)}, one_line=True), flush=True)
            elif isinstance(item, QuoteGap):
                out.print(f"[yellow]gap[/] {item.start:%H:%M:%S}-{item.end:%H:%M:%S} ({item.duration_s:.1f} s): quotes of "
                          f"{', '.join(item.symbols)} may have been missed ({item.reason})", highlight=False)
            else:
                out.print(_quote_line(item), highlight=False, markup=False)
    return 0


def _fields(item: Quote | QuoteGap) -> dict[str, Any]:
    value = jsonable(item)
    assert isinstance(value, dict)
    return value


def _quote_line(q: Quote) -> str:
    return (f"{q.time:%Y-%m-%d %H:%M:%S}  {q.symbol}  {fmt(q.price):>9}  bid {fmt(q.bid)} x {fmt(q.bid_size)}  ask {fmt(q.ask)} x {fmt(q.ask_size)}"
            f"  volume {fmt(q.volume)}")


def limits(args: argparse.Namespace, gateway: IBrokerGateway) -> int:
    if args.json:
        print(dump_json({"budget": str(gateway.rate_limiter.policy), "usage": gateway.rate_limiter.usages()}))
    else:
        show_limits(console(), gateway.rate_limiter, args.broker_name, args.watch, args.interval, args.duration)
    return 0


class UsageError(Exception):
    """A command line that parsed but does not make sense (exit 2)."""



COMMANDS = {"symbols": symbols, "candles": candles, "quote": quote, "balance": balance, "positions": positions, "orders": orders,
            "order": order, "buy": place, "sell": place, "cancel": cancel, "stream": stream, "limits": limits}
