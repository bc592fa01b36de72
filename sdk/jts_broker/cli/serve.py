"""``jts-broker serve``: the gateway server as a process, over the paper-trading simulator (the
default) or a KIS account (``--backend kis --config FILE --broker NAME``: a broker with
``backend = "rest"``), with optional broker rate limits, fault injection and transport security."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jts_broker.domain.enums import AccountType, BrokerType
from jts_broker.domain.errors import ConfigurationError
from jts_broker.domain.policies import RateLimitPolicy

from .args import add_replay_args, cash_arg, fraction_arg, nonnegative_arg, port_arg
from .sim import clock_line, replay_market

if TYPE_CHECKING:
    from jts_broker.kis import KisRestGateway
    from jts_broker.server import GatewayServer

TOKEN_ENV = "JTS_BROKER_SERVE_TOKEN"


def _rate(text: str) -> tuple[str, float]:
    from jts_broker.server.faults import FaultPlan

    try:
        return FaultPlan.parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: Any) -> None:
    s = sub.add_parser("serve", help="run the gateway server: the paper-trading simulator (real KRX prices) or a KIS account")
    s.add_argument("--backend", choices=["paper", "kis"], default="paper",
                   help="what the server serves: the paper simulator, or the KIS broker --broker of --config (default: %(default)s)")
    s.add_argument("--config", type=Path, help="jts-broker.toml holding the KIS broker (--backend kis)")
    s.add_argument("--broker", metavar="NAME", help="the broker of --config with backend = \"rest\" (default: the first such)")
    s.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    s.add_argument("--port", type=port_arg, default=50551, help="port 1-65535 (default: %(default)s; 0 picks a free one)")
    s.add_argument("--data-dir", type=Path, help="folder of <code>.csv daily files (date,open,high,low,close,volume); default: bundled KRX data")
    add_replay_args(s, "start with the clock still (needs --control: move it with `jts-broker sim`)")
    s.add_argument("--control", action="store_true", help="serve the SimulatorControl service (clock, pause, advance, reset: `jts-broker sim`)")
    s.add_argument("--cash", type=cash_arg, default=Decimal(100_000_000), help="starting cash per paper account, KRW >= 0 (default: 100,000,000)")
    s.add_argument("--emulate", choices=[b.value for b in BrokerType], default="mock",
                   help="broker whose rate limits and error codes to enforce (default: mock, no limits)")
    s.add_argument("--limits", choices=["published", "spec"], default="published", help="which figures of --emulate to enforce (default: %(default)s)")
    f = s.add_argument_group("fault injection (for tests and demos)")
    f.add_argument("--latency-ms", type=nonnegative_arg, default=0.0, metavar="MS", help="delay added to every call, >= 0")
    f.add_argument("--fail", type=_rate, action="append", default=[], metavar="CODE=RATE",
                   help="fail this fraction of calls with a gRPC status before handling them, e.g. UNAVAILABLE=0.1 (repeatable)")
    f.add_argument("--drop-after-commit", type=fraction_arg, default=0.0, metavar="RATE",
                   help="lose this fraction of order responses after the order was taken")
    f.add_argument("--fault-seed", type=int, metavar="N", help="seed of the fault draws")
    t = s.add_argument_group("transport security")
    t.add_argument("--tls-cert", type=Path, metavar="PEM", help="server certificate chain (with --tls-key: serve TLS)")
    t.add_argument("--tls-key", type=Path, metavar="PEM", help="server private key")
    t.add_argument("--tls-client-ca", type=Path, metavar="PEM", help="require client certificates signed by this CA")
    t.add_argument("--token", default=os.environ.get(TOKEN_ENV), help=f"bearer token every call must carry (default: ${TOKEN_ENV}; the variable keeps it out of `ps`)")


def run(args: argparse.Namespace) -> int:
    from jts_broker.server import GatewayServer, SimulatorServer
    from jts_broker.server.auth import ServerTls
    from jts_broker.server.faults import FaultPlan

    emulate = BrokerType(args.emulate)
    limits = None
    if emulate is not BrokerType.MOCK:
        limits = RateLimitPolicy.published(emulate, AccountType.PAPER) if args.limits == "published" else RateLimitPolicy.spec(emulate)
    if (args.tls_cert is None) != (args.tls_key is None) or (args.tls_client_ca and not args.tls_cert):
        raise ConfigurationError("--tls-cert and --tls-key go together (and --tls-client-ca needs them)")
    try:
        tls = ServerTls.from_files(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None
        faults = FaultPlan(latency_s=args.latency_ms / 1000, error_rates=dict(args.fail), drop_after_commit=args.drop_after_commit, seed=args.fault_seed)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {exc.filename}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    security = ("TLS" + (" with client certificates" if tls and tls.client_ca else "")) if tls else "plaintext"
    extras = f"{security}{', bearer token required' if args.token else ''}{', faults injected' if faults.active else ''}"
    server: GatewayServer
    if args.backend == "kis":
        backend = _kis_backend(args)
        server = GatewayServer(backend, args.host, args.port, faults=faults, tls=tls, token=args.token or None)
        server.start()
        # One plain line (no wrapping): scripts wait for it to know the port is bound.
        banner = (f"jts-broker gateway serving on {server.target}: KIS {backend.kis.kis_env.value} account {backend.kis.account} "
                  f"at {backend.kis.url}, rate limits: {backend.rate_limiter.policy}, {extras}. Ctrl-C stops.")
    else:
        if args.paused and not args.control:
            raise ConfigurationError("--paused needs --control: without the control service nothing could move the clock")
        simulator = SimulatorServer(args.host, args.port, market=replay_market(args), initial_cash=args.cash, speed=args.speed, control=args.control,
                                    rate_limits=limits, broker_type=emulate, faults=faults, tls=tls, token=args.token or None)
        if args.paused:
            simulator.runner.pause()
        server = simulator.start()
        banner = (f"jts-broker simulator serving on {server.target}: {clock_line(simulator.runner.state())}"
                  f"{', control service on' if args.control else ''}, "
                  f"{len(simulator.market.symbols()):,} symbols, accounts {', '.join(a.account_id for a in simulator.broker.accounts())}, "
                  f"rate limits: {limits or 'none'}, {extras}. Ctrl-C stops.")
    freeze_startup_heap()
    try:
        return run_until_signalled(server.stop, banner)
    finally:
        server.backend.close()


def freeze_startup_heap() -> int:
    """After one collection, take every object alive after startup (the replayed market's bars
    above all) out of the cyclic garbage collector's walks; returns how many. Every full
    collection walked them again: 70 ms of a 140-ms answer of 100,000 one-minute candles with the
    bundled data, 24 ms once frozen (bigger markets gain more). They are still freed by reference
    counting when dropped; only one that later ends up in a garbage cycle is never reclaimed.
    Objects made later are collected as ever."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


SHUTDOWN_S = 10.0
"""The longest a graceful stop may take before the process ends anyway (the port is freed with it)."""


def run_until_signalled(stop: Callable[[], None], banner: str) -> int:
    """Print ``banner`` (the line scripts wait for: the port is bound, and signals are handled from
    then on), serve until SIGTERM or SIGINT, then ``stop()`` (on a thread of its own, at most
    ``SHUTDOWN_S`` seconds); a second signal meanwhile ends the process at once. Every way ends the
    process within a bounded time, so its port is always freed. 0 after a graceful stop."""
    requested = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if requested.is_set():  # a second signal while stopping: no more grace
            os._exit(128 + signum)
        requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(banner, flush=True)
    while not requested.wait(0.5):  # a timed wait: signal handlers run between the waits
        pass
    stopper = threading.Thread(target=stop, name="jts-shutdown", daemon=True)
    stopper.start()
    stopper.join(SHUTDOWN_S)
    if stopper.is_alive():
        print(f"jts-broker: the graceful stop took over {SHUTDOWN_S:g} s; exiting", file=sys.stderr, flush=True)
        os._exit(1)
    return 0


def _kis_backend(args: argparse.Namespace) -> KisRestGateway:
    """The KisRestGateway of ``--config``'s broker ``--broker``, connected (its token in hand)."""
    from jts_broker.client.config_file import load_settings
    from jts_broker.kis import KisRestGateway

    settings = load_settings(args.config)
    if not settings.rest:
        raise ConfigurationError(f'{settings.source}: no KIS broker with backend = "rest" to serve')
    name = args.broker or next(iter(settings.rest))
    if name not in settings.rest:
        raise ConfigurationError(f'{settings.source}: no KIS broker named {name!r} with backend = "rest" (those: {", ".join(settings.rest)})')
    if settings.rest[name].journal_path is None:
        # KIS knows no client order ids: without the journal a client recovering a lost answer
        # could not be told whether its order exists, and would be refused every lookup.
        raise ConfigurationError(f'{settings.source}: broker {name}: serve --backend kis needs its order journal (order_journal is "none")')
    gateway = KisRestGateway(settings.rest[name])
    gateway.connect()
    return gateway
