"""``jts-broker gui``: the example Qt window (the extra ``jts-broker[qt]``)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from jts_broker.domain.config import BrokerConfig
from jts_broker.domain.errors import ConfigurationError

INSTALL = "pip install 'jts-broker[qt]'"


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("gui", help="the example Qt window: broker status, rate limits, live quotes (needs jts-broker[qt])", parents=[common])
    s.add_argument("symbols", nargs="*", default=["005930", "000660", "035420"], metavar="CODE", help="quotes to follow (default: 005930 000660 035420)")
    s.add_argument("--quit-after", type=float, metavar="S", help="close the window after S seconds (demos, screenshots)")
    s.add_argument("--screenshot", type=Path, metavar="PNG", help="with --quit-after: save the window to PNG before closing")


def run(args: argparse.Namespace, config_of: Any) -> int:
    """Open the window on ``--config``/``--target``'s broker, or on an in-process simulator when
    neither is given. Without the Qt extra: one line naming the command that installs it, exit 1."""
    try:
        from jts_broker.qt.app import run_gui
    except ModuleNotFoundError as exc:
        print(f"jts-broker gui needs Qt ({exc.name} is missing): {INSTALL}", file=sys.stderr)
        return 1
    from jts_broker.client.registry import BrokerRegistry

    with contextlib.ExitStack() as stack:
        if args.target is None and args.config is None:
            from jts_broker.server import SimulatorServer

            server = stack.enter_context(SimulatorServer())
            config = BrokerConfig.from_target(server.target)
        else:
            config = config_of(args)
        if getattr(args, "rest_config", None) is not None:
            raise ConfigurationError("jts-broker gui talks to a gateway server: this broker talks to KIS directly (serve it with serve --backend kis)")
        registry = stack.enter_context(BrokerRegistry({getattr(args, "broker_name", None) or "broker": config}))
        return run_gui(config, registry, list(args.symbols), quit_after_s=args.quit_after, screenshot=args.screenshot)
