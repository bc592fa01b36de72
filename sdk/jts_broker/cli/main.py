"""``jts-broker``: the command line of jts-broker.

Every command but ``serve``, ``kis-emulator``, ``demo``, ``config`` and ``cache`` talks to a broker:
a gateway server, or KIS's Open API directly for a broker with ``backend = "rest"``: a broker of the
config file when there is one (``--config``, ``$JTS_BROKER_CONFIG``, ``./jts-broker.toml``, the
user config folder; ``--broker`` picks one, default the first), else ``--target`` (default
``$JTS_BROKER_TARGET`` or 127.0.0.1:50551, where ``jts-broker serve`` listens). An explicit
``--target`` (or ``$JTS_BROKER_TARGET``) without ``--config`` skips the search; with it, it
overrides the broker's address. ``--json`` prints machine-readable output with exact decimal
strings.

Exit codes: 0 done; 1 an error (one line on stderr), or no data where some was asked for; 2 a
usage mistake (one line on stderr); 3 the outcome of an order or a cancel is unknown (look it up
before sending it again); 130 interrupted (Ctrl-C; an order that may have left is named on
stderr); 141 the reader of the output went away (``| head``), quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from jts_broker import BrokerConfig, ConfigurationError, JtsBrokerError, Market, OrderStatusUnknown, Timeframe, Timeouts, __version__
from jts_broker.client.config_file import CONFIG_ENV, find_config, load_settings
from jts_broker.client.registry import default_gateway
from jts_broker.domain.gateway import IBrokerGateway

from . import cache, commands, demo, gui, kis_emulator, serve, sim, status
from .args import date_arg, krw_arg
from .render import console

DEFAULT_TARGET = "127.0.0.1:50551"
DEFAULT_CONNECT_S = 3.0


class Parser(argparse.ArgumentParser):
    """argparse with a usage mistake on one line (exit 2) that names the command's help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


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
    p = Parser(prog="jts-broker", description="Korean stock brokers through the JTS gRPC gateway; paper-trading simulator included.")
    p.add_argument("--version", action="version", version=f"jts-broker {__version__}")
    _connection_options(p, with_defaults=True)
    common = Parser(add_help=False)
    _connection_options(common, with_defaults=False)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def client(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, parents=[common])
        return parser

    serve.add_parser(sub)
    kis_emulator.add_parser(sub)

    sub.add_parser("demo", help="start the simulator in-process and walk through the main job over gRPC")

    s = client("symbols", "search the symbol master")
    s.add_argument("--search", default="", metavar="TEXT", help="substring of code or name")
    s.add_argument("--market", choices=[m.value for m in Market])
    s.add_argument("--with-data", action="store_true", help="only symbols the server holds prices for (a simulator's data covers few)")

    s = client("candles", "historical candles (OHLCV)")
    s.add_argument("code")
    s.add_argument("--start", type=date_arg, required=True, help="first trading date, YYYY-MM-DD")
    s.add_argument("--end", type=date_arg, required=True, help="last trading date (included), YYYY-MM-DD")
    s.add_argument("--timeframe", default="day", choices=[t.value for t in Timeframe])

    s = client("quote", "latest quotes")
    s.add_argument("codes", nargs="+", metavar="CODE")

    s = client("stream", "live quotes and the gaps of a broken stream, until Ctrl-C")
    s.add_argument("codes", nargs="+", metavar="CODE")

    for name, help_text in (("balance", "cash and valuation"), ("positions", "open positions")):
        s = client(name, help_text)
        s.add_argument("--account", help="account id (default: the first)")
    s = client("orders", "today's orders, or (--unresolved) the order journal's open ones")
    s.add_argument("--account", help="account id (default: the first)")
    s.add_argument("--unresolved", action="store_true",
                   help="orders sent without an answer (a crash, a lost connection), after asking the broker about them")
    s = client("order", "one order, by its broker order id or its client order id")
    s.add_argument("order_id", nargs="?", help="the broker's order id")
    s.add_argument("--client-order-id", metavar="ID", help="the client order id it was placed with")
    s.add_argument("--account", help="account id of --client-order-id (default: the first)")

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
    sim.add_parser(sub, common)
    gui.add_parser(sub, common)

    s = client("limits", "rate-limit budgets and their usage (--watch: live bars)")
    s.add_argument("--watch", action="store_true", help="redraw live until Ctrl-C")
    s.add_argument("--interval", type=float, default=0.25, metavar="S", help="seconds between redraws (default: %(default)s)")
    s.add_argument("--duration", type=float, metavar="S", help="stop watching after S seconds")
    return p


def _gateway(args: argparse.Namespace) -> IBrokerGateway:
    """The gateway of the connection :func:`_config` picks: ``KisRestGateway`` for a broker with
    ``backend = "rest"`` (KIS directly), else as the registry's default."""
    config = _config(args)
    rest = getattr(args, "rest_config", None)
    if rest is not None:
        from jts_broker.kis import KisRestGateway

        return KisRestGateway(rest)
    return default_gateway(args.broker_name, config)


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
    args.rest_config = settings.rest.get(name)
    if args.rest_config is not None:
        if target is not None:
            raise ConfigurationError(f"broker {name} talks to KIS directly (backend = \"rest\"): --target does not apply")
        return config
    if args.connect_timeout is not None:
        config = replace(config, timeouts=replace(config.timeouts, connect_s=args.connect_timeout))
    if target is not None:
        address = BrokerConfig.from_target(target)
        config = replace(config, grpc_host=address.grpc_host, grpc_port=address.grpc_port)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except commands.UsageError as error:
        print(f"jts-broker {args.command}: error: {error} (see `jts-broker {args.command} --help`)", file=sys.stderr)
        return 2
    except OrderStatusUnknown as error:  # neither "done" nor "refused": a script must look before it sends again
        print(f"jts-broker: outcome unknown: {error}", file=sys.stderr)
        return 3
    except JtsBrokerError as error:
        # Nothing listening: say how to start one (other connect failures carry their own hint).
        refused = error.code == "CONNECT_TIMEOUT" and ("Connection refused" in error.message or error.message.endswith(" s"))
        hint = " (is a server running? start one with `jts-broker serve`)" if refused else ""
        print(f"jts-broker: error: {error}{hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        for note in getattr(interrupt, "__notes__", ()):  # e.g. an order that may have left: its client order id
            print(f"jts-broker: interrupted: {note}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`jts-broker symbols | head`): stop quietly. Python would flush to the
        # closed pipe again at exit and print a traceback: point stdout at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _dispatch(args: argparse.Namespace) -> int:
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
    if args.command == "kis-emulator":
        return kis_emulator.run(args)
    if args.command == "sim":
        return sim.run(args, _config(args))
    if args.command == "gui":
        return gui.run(args, _config)
    gateway = _gateway(args)
    try:
        return commands.COMMANDS[args.command](args, gateway)
    finally:
        gateway.close()


if __name__ == "__main__":
    sys.exit(main())
