"""Drive load through a configured broker: N threads calling get_quote for S seconds.

    jts-broker serve &                                   # the simulator on 127.0.0.1:50551
    python examples/load.py --config examples/shared-budget.toml --threads 8 --seconds 30
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from jts_broker import GrpcBrokerGateway
from jts_broker.client.config_file import load_config


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--symbol", default="005930")
    args = p.parse_args()
    config = next(iter(load_config(args.config).values()))
    calls = 0
    lock = threading.Lock()
    started = time.monotonic()
    stop_at = started + args.seconds
    with GrpcBrokerGateway(config) as gateway:

        def work() -> None:
            nonlocal calls
            while time.monotonic() < stop_at:
                gateway.get_quote(args.symbol)
                with lock:
                    calls += 1

        threads = [threading.Thread(target=work) for _ in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elapsed = time.monotonic() - started  # calls already waiting for a token finish after stop_at
    print(f"{calls} calls in {elapsed:.1f} s: {calls / elapsed:.1f}/s within budget {config.rate_limit_policy}")


if __name__ == "__main__":
    main()
