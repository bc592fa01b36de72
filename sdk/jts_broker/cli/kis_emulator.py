"""``jts-broker kis-emulator``: KIS's Open API over the paper engine and the bundled KRX data, for
trying the KIS backend with no account (see :mod:`jts_broker.kis.emulator`)."""

from __future__ import annotations

import argparse
from decimal import Decimal
from pathlib import Path
from typing import Any

from jts_broker.domain.errors import ConfigurationError

from .args import add_replay_args, cash_arg, fraction_arg, nonnegative_arg, port_arg
from .serve import run_until_signalled
from .sim import clock_line, replay_market

INSTALL = 'pip install "jts-broker[emulator]"'


def add_parser(sub: Any) -> None:
    s = sub.add_parser("kis-emulator", help="emulate KIS's Open API (REST) on real KRX prices, for the KIS backend without an account")
    s.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    s.add_argument("--port", type=port_arg, default=8443, help="port (default: %(default)s; 0 picks a free one)")
    s.add_argument("--env", choices=["paper", "real"], default="paper", help="which domain's transaction ids to speak (default: %(default)s)")
    s.add_argument("--account", action="append", default=[], metavar="CANO-PRDT", help="account number (repeatable; default 50000001-01)")
    s.add_argument("--data-dir", type=Path, help="folder of <code>.csv daily files; default: bundled KRX data")
    add_replay_args(s, "keep the clock still for good: prices never move (the emulator has no control service; for tests)")
    s.add_argument("--cash", type=cash_arg, default=Decimal(100_000_000), help="starting cash per account, KRW (default: 100,000,000)")
    s.add_argument("--rate", type=int, metavar="N", help="calls a second per app key before EGW00201 (default: KIS's, 20 real / 2 paper)")
    f = s.add_argument_group("fault injection")
    f.add_argument("--drop-after-commit", type=fraction_arg, default=0.0, metavar="RATE", help="cut this fraction of order answers after the order was taken")
    f.add_argument("--latency-ms", type=nonnegative_arg, default=0.0, metavar="MS", help="delay added to every answer")
    f.add_argument("--error-5xx", type=fraction_arg, default=0.0, metavar="RATE", help="answer this fraction of reads with HTTP 500")
    f.add_argument("--fault-seed", type=int, metavar="N", help="seed of the fault draws")


def run(args: argparse.Namespace) -> int:
    try:
        from jts_broker.kis.emulator import DEFAULT_ACCOUNT, Faults, KisEmulator
    except ModuleNotFoundError as exc:
        raise ConfigurationError(f"the KIS emulator needs {exc.name}: {INSTALL}", code="MISSING_EXTRA") from None
    if args.rate is not None and args.rate < 1:
        raise ConfigurationError(f"--rate must be >= 1 call a second, got {args.rate}")
    faults = Faults(drop_after_commit=args.drop_after_commit, latency_s=args.latency_ms / 1000, error_5xx=args.error_5xx, seed=args.fault_seed)
    market = replay_market(args)
    emulator = KisEmulator(args.host, args.port, env=args.env, accounts=tuple(args.account) or (DEFAULT_ACCOUNT,), rate_per_s=args.rate,
                           market=market, initial_cash=args.cash, speed=args.speed, faults=faults)
    if args.paused:
        emulator.runner.pause()
    emulator.start()
    state = emulator.state
    # One plain line: scripts wait for it to know the port is bound.
    banner = (f"jts-broker KIS emulator ({args.env}) on {emulator.url}: {clock_line(emulator.runner.state())}, "
          f"accounts {', '.join(a.account_id for a in state.broker.accounts())}, {state.rate_per_s} calls/s per app key"
          f"{', faults injected' if (faults.drop_after_commit or faults.latency_s or faults.error_5xx) else ''}. "
          f"Point a broker's base_url at it. Ctrl-C stops.")
    return run_until_signalled(emulator.stop, banner)
