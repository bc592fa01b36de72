"""A client process for the order-journal crash tests, run against the simulator at TARGET with
the journal file JOURNAL. The test kills the first two kinds with SIGKILL.

    python -m tests.integration.journal_worker SCENARIO TARGET JOURNAL [CLIENT_ORDER_ID]

``send``: place a resting buy and wait for the answer (the test's simulator holds it back).
``queued``: place one while the rate budget is spent, so that it waits for a token after the
journal wrote it down: killed there, it never left the process.
``reconcile``: connect (which reconciles) and print, as one JSON line, the journal entry of
CLIENT_ORDER_ID and what is still unresolved.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal

from jts_broker import BrokerConfig, GrpcBrokerGateway, RateLimit, Side, Timeouts, limit_order

ACCOUNT, SYMBOL = "50000001-01", "229200"


def config(target: str, journal: str, **kwargs: object) -> BrokerConfig:
    return BrokerConfig.from_target(target, order_journal=journal, **kwargs)


def resting_buy(gateway: GrpcBrokerGateway, client_order_id: str):
    price = Decimal(gateway.get_quote(SYMBOL).lower_limit)
    return limit_order(ACCOUNT, SYMBOL, Side.BUY, 1, price, client_order_id=client_order_id)


def send(target: str, journal: str, client_order_id: str) -> None:
    with GrpcBrokerGateway(config(target, journal, rate_limit=RateLimit(1000), timeouts=Timeouts(order_s=30.0))) as gateway:
        order = resting_buy(gateway, client_order_id)
        print("sending", flush=True)
        gateway.place_order(order)
        print("answered", flush=True)  # the test kills the process before this


def queued(target: str, journal: str, client_order_id: str) -> None:
    with GrpcBrokerGateway(config(target, journal, rate_limit=RateLimit(1, 600.0))) as gateway:
        order = resting_buy(gateway, client_order_id)  # spends the only token of the window
        print("sending", flush=True)
        gateway.place_order(order)  # written to the journal, then waits for a token


def reconcile(target: str, journal: str, client_order_id: str) -> None:
    gateway = GrpcBrokerGateway(config(target, journal, rate_limit=RateLimit(1000), timeouts=Timeouts(order_s=0.5)))
    before = [e.client_order_id for e in gateway.unresolved_orders()]
    gateway.connect()
    entry = gateway.order_journal.entry(ACCOUNT, client_order_id)
    print(json.dumps({"before": before, "after": [e.client_order_id for e in gateway.unresolved_orders()],
                      "state": entry.state.value if entry else None, "order_id": entry.order_id if entry else None}), flush=True)
    gateway.close()


SCENARIOS = {"send": send, "queued": queued, "reconcile": reconcile}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]](*sys.argv[2:])
