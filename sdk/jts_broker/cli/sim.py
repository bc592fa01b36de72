"""``jts-broker sim clock|pause|resume|speed|advance|reset``: drive a simulator served with
``--control``; and the replayed market that ``serve`` and ``kis-emulator`` build from their options."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jts_broker.domain.config import BrokerConfig, Secret
from jts_broker.domain.errors import ConfigurationError
from jts_broker.domain.simulation import ClockState
from jts_broker.domain.timeutil import KST

from .args import DEFAULT_REPLAY_DAYS, speed_arg

if TYPE_CHECKING:
    from jts_broker.paper.market import BarMarket


def replay_market(args: argparse.Namespace) -> BarMarket:
    """The market of ``--data-dir``, ``--from``, ``--to`` and ``--seed`` (without ``--from``: the
    last trading days of the data)."""
    from jts_broker.paper.data_loader import load_market

    return load_market(args.data_dir, args.start, args.end, seed=args.seed, last_days=DEFAULT_REPLAY_DAYS)


def clock_line(state: ClockState) -> str:
    """One line of where a market clock stands, e.g. ``2026-03-17 09:00:00 KST continuous, day
    1 of 20 (2026-02-13 to 2026-03-17), speed 60x``."""
    if state.ended:
        moving = "replay ended"
    elif state.paused:
        moving = "paused"
    else:
        moving = f"speed {state.speed:g}x"
    return (f"{state.now:%Y-%m-%d %H:%M:%S} KST {state.phase.value.replace('_', ' ')}, day {state.day_number} of {state.day_count} "
            f"({state.first_day} to {state.last_day}), {moving}")


def _moment(text: str) -> datetime:
    """``YYYY-MM-DDTHH:MM[:SS]``, in Asia/Seoul unless an offset is given."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DDTHH:MM (Asia/Seoul) such as 2026-03-17T10:30, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=KST)


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("sim", help="drive a simulator served with --control: its market clock and accounts", parents=[common])
    actions = s.add_subparsers(dest="sim_command", required=True, metavar="ACTION")
    actions.add_parser("clock", help="where the market clock stands", parents=[common])
    actions.add_parser("pause", help="stop the clock running with real time", parents=[common])
    actions.add_parser("resume", help="run the clock with real time again", parents=[common])
    a = actions.add_parser("speed", help="set the clock's speed", parents=[common])
    a.add_argument("speed", type=speed_arg, help="market seconds per real second, > 0 (1 is real time)")
    a = actions.add_parser("advance", help="move the clock to a time or through a number of events (orders are matched on the way)",
                           parents=[common])
    target = a.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", type=_moment, metavar="YYYY-MM-DDTHH:MM", help="the time to move to (Asia/Seoul unless an offset is given)")
    target.add_argument("--steps", type=int, metavar="N", help="events to move through (each a price change or a session boundary), >= 1")
    actions.add_parser("reset", help="every paper account back to its initial cash, no positions, no orders", parents=[common])


def run(args: argparse.Namespace, config: BrokerConfig) -> int:
    from jts_broker.client.simulator_control import SimulatorControl

    from .render import console, dump_json

    token = config.token.reveal() if isinstance(config.token, Secret) and config.token else None
    with SimulatorControl(config.target, token=token, tls=config.tls) as control:
        action = args.sim_command
        if action == "clock":
            state = control.clock()
        elif action == "pause":
            state = control.pause()
        elif action == "resume":
            state = control.resume()
        elif action == "speed":
            state = control.set_speed(args.speed)
        elif action == "advance":
            if args.steps is not None and args.steps < 1:
                raise ConfigurationError(f"--steps must be >= 1, got {args.steps}")
            state = control.advance(to=args.to) if args.to is not None else control.advance(steps=args.steps)
        else:
            state = control.reset_accounts()
    if args.json:
        print(dump_json(state, one_line=True))
    else:
        console().print(clock_line(state), highlight=False)
    return 0
