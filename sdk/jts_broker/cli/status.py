"""``jts-broker status`` and ``jts-broker config init``: the configured brokers and their config file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from jts_broker.client.config_file import FILE_NAME, find_config, write_example
from jts_broker.client.registry import BrokerRegistry

from .render import console, dump_json


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    sub.add_parser("status", parents=[common], help="every configured broker: connection status, health-check latency, last error (exit 1 if any is down)")
    s = sub.add_parser("config", help="the jts-broker.toml config file")
    actions = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser("init", help=f"write a commented example config (default: ./{FILE_NAME})")
    init.add_argument("--path", type=Path, default=Path(FILE_NAME), help="where to write it (default: %(default)s)")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    actions.add_parser("path", help="print the config file that would be used")


def run_status(args: argparse.Namespace) -> int:
    """Connect every configured broker, check its health, print a table; 1 if any is not connected."""
    from rich.markup import escape
    from rich.table import Table

    with BrokerRegistry.from_config(args.config) as registry:
        registry.connect()
        report = registry.check_health()
    if args.json:
        print(dump_json(report))
    else:
        grid = Table(title=f"{len(report)} brokers")
        for column in ("broker", "type", "target", "status", "latency", "accounts", "rate limits", "last error"):
            grid.add_column(column, justify="right" if column == "latency" else "left")
        colors = {"connected": "green", "error": "red", "connecting": "yellow", "disconnected": "dim"}
        for h in report:
            grid.add_row(h.name, h.broker_type.value, h.target, f"[{colors[h.status.value]}]{h.status.value}[/]",
                         f"{h.latency_s * 1000:.1f} ms" if h.latency_s is not None else "-", ", ".join(h.accounts) or "-",
                         escape(h.rate_limits), escape(h.last_error) if h.status.value != "connected" else "")
        console().print(grid)
    return 0 if all(h.status.value == "connected" for h in report) else 1


def run_config(args: argparse.Namespace) -> int:
    if args.action == "init":
        path = write_example(args.path, force=args.force)
        print(f"wrote {path}: edit it, then try `jts-broker status`")
    else:
        print(find_config(args.config))
    return 0
