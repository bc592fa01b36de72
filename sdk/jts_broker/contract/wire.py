"""Facts of the jts.broker.v1 wire that clients and servers must agree on."""

from __future__ import annotations

from jts_broker.contract._generated.pb import market_data_pb2, trading_pb2

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Largest message either side accepts (a symbol master or years of candles can pass grpc's 4 MiB default)."""


def read_only_methods() -> dict[str, bool]:
    """Full method path of every jts.broker.v1 RPC -> whether it is free of side effects
    (``idempotency_level = NO_SIDE_EFFECTS`` in the proto: safe to retry, spends the query budget)."""
    out = {}
    for module in (market_data_pb2, trading_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                options = method.GetOptions()
                out[f"/{service.full_name}/{method.name}"] = options.idempotency_level == options.NO_SIDE_EFFECTS
    return out
