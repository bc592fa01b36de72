"""``make bench``: the SDK's overhead against raw grpcio, measured in one run on one simulator.

(a) 10,000 daily candles: ``GrpcBrokerGateway.get_candles`` (rate-limit token, deadline, retry
    wrapper, upb decode, generated mapper to frozen dataclasses with ``Decimal`` and tz-aware
    times) vs a raw grpcio stub call that decodes the same response with upb and reads every field.
(b) a small unary call, ``get_quote``: p50 through the gateway vs the raw stub.
The rate budget is set high enough not to bind, but each gateway call still takes its token.
For scale it also times betterproto2 parsing the same 10k-candle response.

Prints a table; the last line is a JSON object with the ratios (gateway / raw; lower is better).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from jts_broker import BrokerConfig, GrpcBrokerGateway, Market, RateLimit, SecurityType, Symbol, Timeframe
from jts_broker._generated import mappers as m
from jts_broker._generated.betterproto.jts.broker import v1 as bp
from jts_broker._generated.pb import market_data_pb2, market_data_pb2_grpc
from jts_broker._transport.channel import insecure_channel
from jts_broker.domain.timeutil import start_of_day
from jts_broker.paper.synthetic import daily_bars
from jts_broker.simulator import SimulatorServer

CODE = "900001"
N_CANDLES = 10_000


def write_bars(folder: Path) -> date:
    """A 10,001-day synthetic series (10,000 history days + the replayed session); its session date."""
    symbol = Symbol(CODE, "BENCH", Market.KOSPI, SecurityType.STOCK)
    bars = daily_bars(symbol, 50_000, seed=1, last_day=date(2060, 12, 31))[: N_CANDLES + 1]
    lines = ["date,open,high,low,close,volume", *(f"{b.day},{b.open},{b.high},{b.low},{b.close},{b.volume}" for b in bars)]
    (folder / f"{CODE}.csv").write_text("\n".join(lines) + "\n")
    return bars[-1].day


def read_every_field(response: market_data_pb2.GetCandlesResponse) -> int:
    total = 0
    for c in response.candles:
        total += c.time.seconds + c.time.nanos + len(c.open.value) + len(c.high.value) + len(c.low.value) + len(c.close.value) + c.volume
    return total


def median_ms(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        session = write_bars(Path(tmp))
        with SimulatorServer(data_dir=Path(tmp), tick_interval_s=0) as server:
            gateway = GrpcBrokerGateway(BrokerConfig.from_target(server.target, rate_limit=RateLimit(1_000_000)))
            gateway.connect()
            channel = insecure_channel(server.target)
            stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
            start, end = date(1900, 1, 1), session - timedelta(days=1)
            # The same request the gateway builds: every history day, the session day excluded.
            request = market_data_pb2.GetCandlesRequest(symbol=CODE, timeframe=m.timeframe_to_proto(Timeframe.DAY),
                                                        start=m.timestamp_to_proto(start_of_day(start)), end=m.timestamp_to_proto(start_of_day(session)))

            raw = stub.GetCandles(request)
            assert len(raw.candles) == N_CANDLES and len(gateway.get_candles(CODE, Timeframe.DAY, start, end)) == N_CANDLES
            wire = raw.SerializeToString()

            rounds = {"raw": [], "gateway": []}
            for _ in range(7):  # interleaved, so drift on a noisy machine hits both alike
                rounds["raw"].append(median_ms(lambda: read_every_field(stub.GetCandles(request)), 3))
                rounds["gateway"].append(median_ms(lambda: gateway.get_candles(CODE, Timeframe.DAY, start, end), 3))
            candles_raw, candles_gw = statistics.median(rounds["raw"]), statistics.median(rounds["gateway"])
            bp_parse = median_ms(lambda: bp.GetCandlesResponse.parse(wire), 3)
            upb_parse = median_ms(lambda: market_data_pb2.GetCandlesResponse.FromString(wire), 20)

            quote_request = market_data_pb2.GetQuoteRequest(symbol=CODE)
            unary = {"raw": [], "gateway": []}
            for _ in range(10):
                for _ in range(200):
                    t = time.perf_counter()
                    stub.GetQuote(quote_request)
                    unary["raw"].append(time.perf_counter() - t)
                for _ in range(200):
                    t = time.perf_counter()
                    gateway.get_quote(CODE)
                    unary["gateway"].append(time.perf_counter() - t)
            unary_raw, unary_gw = (statistics.median(unary[k]) * 1000 for k in ("raw", "gateway"))
            channel.close()
            gateway.close()

    result = {
        "candles_10k_ratio": round(candles_gw / candles_raw, 3),
        "unary_p50_ratio": round(unary_gw / unary_raw, 3),
        "candles_10k_gateway_ms": round(candles_gw, 2),
        "candles_10k_raw_upb_ms": round(candles_raw, 2),
        "unary_p50_gateway_ms": round(unary_gw, 4),
        "unary_p50_raw_ms": round(unary_raw, 4),
        "parse_10k_upb_ms": round(upb_parse, 2),
        "parse_10k_betterproto2_ms": round(bp_parse, 2),
        "response_10k_bytes": len(wire),
    }
    print(f"{'measure':<44}{'gateway':>12}{'raw grpcio':>12}{'ratio':>8}")
    print(f"{'get_candles, 10,000 daily candles (median ms)':<44}{candles_gw:>12.2f}{candles_raw:>12.2f}{result['candles_10k_ratio']:>8.2f}")
    print(f"{'get_quote, unary (p50 ms)':<44}{unary_gw:>12.3f}{unary_raw:>12.3f}{result['unary_p50_ratio']:>8.2f}")
    print(f"for scale: parsing the {len(wire):,}-byte response takes {upb_parse:.2f} ms with upb, {bp_parse:.1f} ms with betterproto2")
    sys.stdout.flush()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
