"""The KIS backend's cost per call: ``KisRestGateway`` against raw ``requests`` calls, both to the
KIS emulator running as a separate process (``jts-broker kis-emulator``), interleaved rounds,
medians.

- one read (inquire-price): ``check_health()`` (rate-limit token, headers, timeouts, retry
  wrapper, JSON decode, KIS error check) vs a raw ``Session.get`` of the same URL and headers
  with ``.json()``;
- a quote (``get_quote``: inquire-price and the order book, parsed to a ``Quote`` of ``Decimal``
  and tz-aware time) vs the two raw GETs decoded as JSON.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
from processes import free_port  # bench/ is the script's folder

from jts_broker.domain.policies import RateLimit
from jts_broker.kis import KisConfig, KisRestGateway

PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"
BOOK = "/uapi/domestic-stock/v1/quotations/inquire-asking-price-exp-ccn"


def _p50_ms(fn: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def kis_bench(result: dict[str, object]) -> None:
    port = free_port()
    emulator = subprocess.Popen([sys.executable, "-m", "jts_broker.cli.main", "kis-emulator", "--port", str(port), "--paused",
                                 "--rate", "1000000"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert emulator.stdout is not None and f"127.0.0.1:{port}" in emulator.stdout.readline()
        url = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as tmp:
            gateway = KisRestGateway(KisConfig("bench-gateway-key", "bench-secret", "50000001-01", base_url=url, token_cache=Path(tmp),
                                               order_journal="none", rate_limit=RateLimit(1_000_000)))
            gateway.connect()
            session = requests.Session()
            token = session.post(f"{url}/oauth2/tokenP", json={"grant_type": "client_credentials", "appkey": "bench-raw-key",
                                                               "appsecret": "bench-secret"}, timeout=5).json()["access_token"]
            headers = {"content-type": "application/json; charset=utf-8", "authorization": f"Bearer {token}", "appkey": "bench-raw-key",
                       "appsecret": "bench-secret", "custtype": "P", "tr_cont": ""}
            params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"}

            def raw_read() -> object:
                return session.get(url + PRICE, params=params, headers={**headers, "tr_id": "FHKST01010100"}, timeout=5).json()

            def raw_quote() -> object:
                return raw_read(), session.get(url + BOOK, params=params, headers={**headers, "tr_id": "FHKST01010200"}, timeout=5).json()

            rounds: dict[str, list[float]] = {"raw_read": [], "read": [], "raw_quote": [], "quote": []}
            for _ in range(7):
                rounds["raw_read"].append(_p50_ms(raw_read, 60))
                rounds["read"].append(_p50_ms(gateway.check_health, 60))
                rounds["raw_quote"].append(_p50_ms(raw_quote, 40))
                rounds["quote"].append(_p50_ms(lambda: gateway.get_quote("005930"), 40))
            gateway.close()
            session.close()
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    read, raw_read_ms = statistics.median(rounds["read"]), statistics.median(rounds["raw_read"])
    quote, raw_quote_ms = statistics.median(rounds["quote"]), statistics.median(rounds["raw_quote"])
    result.update({"kis_read_p50_ms": round(read, 3), "kis_read_raw_p50_ms": round(raw_read_ms, 3), "kis_read_ratio": round(read / raw_read_ms, 3),
                   "kis_quote_p50_ms": round(quote, 3), "kis_quote_raw_p50_ms": round(raw_quote_ms, 3),
                   "kis_quote_ratio": round(quote / raw_quote_ms, 3)})
    print()
    print(f"{'KIS backend vs raw requests (emulator process)':<48}{'gateway':>10}{'raw':>10}{'ratio':>8}")
    print(f"{'one read, inquire-price (p50 ms)':<48}{read:>10.3f}{raw_read_ms:>10.3f}{read / raw_read_ms:>8.2f}")
    print(f"{'get_quote: price + order book (p50 ms)':<48}{quote:>10.3f}{raw_quote_ms:>10.3f}{quote / raw_quote_ms:>8.2f}")
