"""``jts-broker``: the command line of jts-broker.

Every command but ``serve``, ``demo``, ``config`` and ``cache`` talks to a gateway server: a broker of the
config file when there is one (``--config``, ``$JTS_BROKER_CONFIG``, ``./jts-broker.toml``, the
user config folder; ``--broker`` picks one, default the first), else ``--target`` (default
``$JTS_BROKER_TARGET`` or 127.0.0.1:50551, where ``jts-broker serve`` listens). An explicit
``--target`` (or ``$JTS_BROKER_TARGET``) without ``--config`` skips the search; with it, it
overrides the broker's address. Errors print one line on stderr and exit 1 (2 for a usage
mistake); ``--json`` prints machine-readable output with exact decimal strings.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from jts_broker import (
    BrokerConfig,
    ConfigurationError,
    IBrokerGateway,
    JtsBrokerError,
    Market,
    OrderType,
    Side,
    Timeframe,
    Timeouts,
)
from jts_broker.client.config_file import CONFIG_ENV, find_config, load_settings
from jts_broker.client.registry import default_gateway
from jts_broker.domain.trading import OrderRequest

from . import cache, demo, serve, status
from .args import date_arg, krw_arg
from .limits import show as show_limits
from .render import console, dump_json, record, table

DEFAULT_TARGET = "127.0.0.1:50551"
DEFAULT_CONNECT_S = 3.0
PRICE_COLUMNS = ["open", "high", "low", "close", "volume"]


def _connection_options(p: argparse.ArgumentParser, *, with_defaults: bool) -> None:
    """The options of every client command. They are accepted before the command (with their
    defaults) and after it (``candles 005930 ... --json``), where they default to nothing so as
    not to undo what was given before."""

    def default(value: Any) -> Any:
        return value if with_defaults else argparse.SUPPRESS

    p.add_argument("--target", default=default(None), help=f"gateway host:port (default: $JTS_BROKER_TARGET, a configured broker, or {DEFAULT_TARGET})")
    p.add_argument("--json", action="store_true", default=default(False), help="print JSON instead of tables")
    p.add_argument("--connect-timeout", type=float, default=default(None), metavar="S",
                   help=f"seconds to wait for the server (default: {DEFAULT_CONNECT_S:g}, or the config's)")
    p.add_argument("--config", type=Path, default=default(None), help="jts-broker.toml with brokers, accounts and rate limits (default: $JTS_BROKER_CONFIG)")
    p.add_argument("--broker", default=default(None), metavar="NAME", help="broker of --config to use (default: the first)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jts-broker", description="Korean stock brokers through the JTS gRPC gateway; paper-trading simulator included.")
    _connection_options(p, with_defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, with_defaults=False)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def client(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, parents=[common])

    serve.add_parser(sub)

    sub.add_parser("demo", help="start the simulator in-process and walk through the main job over gRPC")

    s = client("symbols", "search the symbol master")
    s.add_argument("--search", default="", metavar="TEXT", help="substring of code or name")
    s.add_argument("--market", choices=[m.value for m in Market])

    s = client("candles", "historical candles (OHLCV)")
    s.add_argument("code")
    s.add_argument("--start", type=date_arg, required=True, help="first trading date, YYYY-MM-DD")
    s.add_argument("--end", type=date_arg, required=True, help="last trading date (included), YYYY-MM-DD")
    s.add_argument("--timeframe", default="day", choices=[t.value for t in Timeframe])

    s = client("quote", "latest quote")
    s.add_argument("code")

    for name, help_text in (("balance", "cash and valuation"), ("positions", "open positions"), ("orders", "today's orders")):
        s = client(name, help_text)
        s.add_argument("--account", help="account id (default: the first)")

    for side in ("buy", "sell"):
        s = client(side, f"place a {side} order (limit with --price, else market)")
        s.add_argument("code")
        s.add_argument("quantity", type=int)
        s.add_argument("--price", type=krw_arg, help="limit price in KRW; omit for a market order")
        s.add_argument("--account", help="account id (default: the first)")
        s.add_argument("--client-order-id", default="", help="your own id, for a safe resend (default: generated)")

    s = client("cancel", "cancel a working order")
    s.add_argument("order_id")

    status.add_parsers(sub, common)
    cache.add_parser(sub, common)

    s = client("limits", "rate-limit budgets and their usage (--watch: live bars)")
    s.add_argument("--watch", action="store_true", help="redraw live until Ctrl-C")
    s.add_argument("--interval", type=float, default=0.25, metavar="S", help="seconds between redraws (default: %(default)s)")
    s.add_argument("--duration", type=float, metavar="S", help="stop watching after S seconds")
    return p


def _show(args: argparse.Namespace, value: Any, render: Any) -> None:
    if args.json:
        print(dump_json(value))
    else:
        console().print(render)


def _run(args: argparse.Namespace, gateway: IBrokerGateway) -> None:
    cmd = args.command
    if cmd == "symbols":
        found = gateway.get_symbols(args.search, Market(args.market) if args.market else None)
        _show(args, found, table(f"{len(found):,} symbols", found, ["code", "name", "market", "security_type", "sector", "listed_date"]))
    elif cmd == "candles":
        candles = gateway.get_candles(args.code, Timeframe(args.timeframe), args.start, args.end)
        _show(args, candles, table(f"{args.code.upper()} {args.timeframe} candles, KRW ({len(candles)})", candles, ["time", *PRICE_COLUMNS], numeric=PRICE_COLUMNS))
    elif cmd == "quote":
        quote = gateway.get_quote(args.code)
        _show(args, quote, record(f"Quote of {quote.symbol}", quote))
    elif cmd == "balance":
        balance = gateway.get_balance(args.account)
        _show(args, balance, record(f"Balance of {balance.account_id} (KRW)", balance))
    elif cmd == "positions":
        positions = gateway.get_positions(args.account)
        numeric = ["quantity", "sellable_quantity", "average_price", "last_price", "market_value", "unrealized_pnl"]
        _show(args, positions, table("Positions", positions, ["account_id", "symbol", *numeric], numeric=numeric))
    elif cmd == "orders":
        orders = gateway.list_orders(args.account)
        cols = ["order_id", "symbol", "side", "order_type", "quantity", "price", "status", "filled_quantity", "average_fill_price", "reject_reason"]
        _show(args, orders, table("Orders", orders, cols, numeric=["quantity", "price", "filled_quantity", "average_fill_price"]))
    elif cmd in ("buy", "sell"):
        account = args.account or gateway.get_accounts()[0].account_id
        order = OrderRequest(account, args.code, Side(cmd), args.quantity, OrderType.LIMIT if args.price is not None else OrderType.MARKET,
                             args.price, client_order_id=args.client_order_id)
        result = gateway.place_order(order)
        _show(args, result, record(f"Order {result.order_id}" + (" (duplicate: already placed)" if result.duplicate else ""), result.order))
    elif cmd == "cancel":
        cancelled = gateway.cancel_order(args.order_id)
        _show(args, cancelled, record(f"Order {cancelled.order_id}", cancelled))
    elif cmd == "limits":
        if args.json:
            print(dump_json({"budget": str(gateway.rate_limiter.policy), "usage": gateway.rate_limiter.usages()}))
        else:
            show_limits(console(), gateway.rate_limiter, args.broker_name, args.watch, args.interval, args.duration)


def _config(args: argparse.Namespace) -> BrokerConfig:
    """The connection, as the module docstring says."""
    target = args.target or os.environ.get("JTS_BROKER_TARGET")
    path = args.config
    if path is None and not os.environ.get(CONFIG_ENV):
        if target is None:
            with contextlib.suppress(ConfigurationError):  # no config file anywhere: the default target
                path = find_config()
        if path is None:
            args.broker_name = target or DEFAULT_TARGET
            return BrokerConfig.from_target(args.broker_name, timeouts=Timeouts(connect_s=args.connect_timeout or DEFAULT_CONNECT_S))
    settings = load_settings(path)
    name = args.broker or next(iter(settings.brokers))
    if name not in settings.brokers:
        raise ConfigurationError(f"{settings.source}: no broker named {name!r} (configured: {', '.join(settings.brokers)})")
    args.broker_name = name
    config = settings.brokers[name]
    if args.connect_timeout is not None:
        config = replace(config, timeouts=replace(config.timeouts, connect_s=args.connect_timeout))
    if target is not None:
        address = BrokerConfig.from_target(target)
        config = replace(config, grpc_host=address.grpc_host, grpc_port=address.grpc_port)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve.run(args)
        if args.command == "status":
            return status.run_status(args)
        if args.command == "config":
            return status.run_config(args)
        if args.command == "cache":
            return cache.run(args)
        if args.command == "demo":
            demo.run(console())
            return 0
        config = _config(args)
        gateway = default_gateway(args.broker_name, config)
        try:
            _run(args, gateway)
        finally:
            gateway.close()
    except JtsBrokerError as error:
        # Nothing listening: say how to start one (other connect failures carry their own hint).
        refused = error.code == "CONNECT_TIMEOUT" and ("Connection refused" in error.message or error.message.endswith(" s"))
        hint = " (is a server running? start one with `jts-broker serve`)" if refused else ""
        print(f"jts-broker: error: {error}{hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
