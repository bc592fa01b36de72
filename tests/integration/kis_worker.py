"""A client process of the KIS emulator for the KIS backend's multi-process tests.

    python -m tests.integration.kis_worker SCENARIO URL FOLDER [ARG]

``connect``: connect (a token from the shared cache in FOLDER, or issued) and exit.
``send``: place a buy of 005930 (ARG: ``CLIENT_ORDER_ID,PRICE``) and wait for its answer (the
test kills the process while the emulator holds the answer back).
``reconcile``: connect (which reconciles the journal) and print, as one JSON line, the journal
entry of ARG and what is still unresolved.
``load``: 8 threads making ARG quote reads each through a budget shared in FOLDER (SQLite); print
the number of refusals by KIS (EGW00201).
"""

from __future__ import annotations

import json
import sys
import threading
from decimal import Decimal
from pathlib import Path

from jts_broker import Side, limit_order
from jts_broker.domain.errors import RateLimitExceeded
from jts_broker.domain.policies import RateLimit, RateLimitPolicy, Timeouts
from jts_broker.kis import KisConfig, KisRestGateway

ACCOUNT = "50000001-01"


def config(url: str, folder: Path, **kwargs: object) -> KisConfig:
    options: dict[str, object] = {"base_url": url, "token_cache": folder / "tokens", "order_journal": folder / "journal.sqlite",
                                  "rate_limit": RateLimit(1000)}
    options.update(kwargs)
    return KisConfig("emulator-app-key", "emulator-app-secret", ACCOUNT, **options)  # type: ignore[arg-type]


def connect(url: str, folder: Path, _: str) -> None:
    with KisRestGateway(config(url, folder)):
        pass


def send(url: str, folder: Path, order: str) -> None:
    client_order_id, price = order.split(",")
    with KisRestGateway(config(url, folder, timeouts=Timeouts(order_s=60.0))) as gateway:
        print("sending", flush=True)
        gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 1, Decimal(price), client_order_id=client_order_id))
        print("answered", flush=True)  # the test kills the process before this


def reconcile(url: str, folder: Path, client_order_id: str) -> None:
    gateway = KisRestGateway(config(url, folder))
    before = [e.client_order_id for e in gateway.unresolved_orders()]
    gateway.connect()
    assert gateway.journal is not None
    entry = gateway.journal.entry(ACCOUNT, client_order_id)
    print(json.dumps({"before": before, "after": [e.client_order_id for e in gateway.unresolved_orders()],
                      "state": entry.state.value if entry else None, "order_id": entry.order_id if entry else None}), flush=True)
    gateway.close()


def load(url: str, folder: Path, calls: str) -> None:
    shared = RateLimitPolicy.single(RateLimit(18))
    policy = RateLimitPolicy(shared.query, backend=f"sqlite:///{folder / 'budget.sqlite'}", key="kis-app")
    refused = []
    with KisRestGateway(config(url, folder, rate_limit=policy)) as gateway:
        def reader() -> None:
            for _ in range(int(calls)):
                try:
                    gateway.check_health()
                except RateLimitExceeded as exc:
                    refused.append(exc.broker_code)
        threads = [threading.Thread(target=reader) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    print(json.dumps({"refused": len(refused)}), flush=True)


SCENARIOS = {"connect": connect, "send": send, "reconcile": reconcile, "load": load}

if __name__ == "__main__":
    scenario, url, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    SCENARIOS[scenario](url, folder, sys.argv[4] if len(sys.argv) > 4 else "")
