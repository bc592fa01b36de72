"""Shared fixtures: a real simulator on a free loopback port, and gateways connected to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jts_broker import BrokerConfig, GrpcBrokerGateway, RateLimit
from jts_broker.simulator import SimulatorServer

SHARED = Path(__file__).resolve().parents[2] / "shared"
ACCOUNT = "50000001-01"


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    """A fresh simulator per test (paper books start clean); the replay clock is stopped so
    tests drive it with ``simulator.step()``."""
    with SimulatorServer(tick_interval_s=0) as server:
        yield server


@pytest.fixture
def gateway(simulator: SimulatorServer) -> Iterator[GrpcBrokerGateway]:
    # A budget that does not bind: these tests are about behaviour, not throttling.
    gw = GrpcBrokerGateway(BrokerConfig.from_target(simulator.target, rate_limit=RateLimit(1000)))
    gw.connect()
    yield gw
    gw.close()
