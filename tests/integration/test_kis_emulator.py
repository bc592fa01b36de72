"""KisRestGateway against the KIS emulator over real HTTP on loopback: the whole flow, limits,
tokens shared by processes, orders at most once through lost answers and a killed process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from jts_broker import OrderStatus, Side, Timeframe, limit_order
from jts_broker.domain.enums import JournalState
from jts_broker.domain.errors import ConfigurationError, InvalidRequest, OrderRejected, OrderStatusUnknown, RateLimitExceeded
from jts_broker.domain.market_data import Quote, QuoteGap
from jts_broker.domain.policies import RateLimit, RetryPolicy, Timeouts
from jts_broker.kis import KisConfig, KisRestGateway
from jts_broker.kis.emulator import Faults, KisEmulator

from ..conftest import wait_until

pytestmark = pytest.mark.integration
ACCOUNT = "50000001-01"


def kis_config(emulator: KisEmulator, folder: Path, **kwargs: object) -> KisConfig:
    options: dict[str, object] = {"base_url": emulator.url, "token_cache": folder / "tokens", "order_journal": folder / "journal.sqlite",
                                  "rate_limit": RateLimit(1000)}
    options.update(kwargs)
    return KisConfig("emulator-app-key", "emulator-app-secret", ACCOUNT, **options)  # type: ignore[arg-type]


@pytest.fixture
def emulator() -> Iterator[KisEmulator]:
    with KisEmulator(speed=0, rate_per_s=1000) as emu:
        yield emu


def worker(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.integration.kis_worker", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_whole_flow_with_real_krx_prices(emulator: KisEmulator, tmp_path: Path) -> None:
    with KisRestGateway(kis_config(emulator, tmp_path)) as gateway:
        quote = gateway.get_quote("005930")
        assert quote.price > 0 and quote.lower_limit < quote.price < quote.upper_limit and quote.ask > quote.bid
        candles = gateway.get_candles("005930", Timeframe.DAY, date(2025, 6, 2), date(2025, 6, 13))
        assert [c.time.date() for c in candles][:2] == [date(2025, 6, 2), date(2025, 6, 4)]  # 2025-06-03 was an election holiday
        assert candles[-1].time.date() == date(2025, 6, 13) and all(c.low <= c.open <= c.high for c in candles)
        months = gateway.get_candles("005930", Timeframe.MONTH, date(2025, 1, 1), date(2025, 12, 31))
        assert [c.time.month for c in months] == list(range(1, 13))
        assert gateway.get_balance().cash == Decimal(100_000_000)

        resting = gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 2, quote.lower_limit, client_order_id="flow-resting"))
        assert resting.status is OrderStatus.ACCEPTED and resting.order_id.endswith("-0000000001")  # YYYYMMDD-ORGNO-ODNO
        filled = gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 3, quote.ask, client_order_id="flow-filled"))
        assert gateway.get_order_by_client_id("flow-filled").status is OrderStatus.FILLED
        assert [o.client_order_id for o in gateway.list_orders()] == ["flow-resting", "flow-filled"]
        cancelled = gateway.cancel_order(resting.order_id)
        assert cancelled.status is OrderStatus.CANCELLED and cancelled.client_order_id == "flow-resting"
        (position,) = gateway.get_positions()
        assert (position.symbol, position.quantity, position.symbol_name) == ("005930", 3, "삼성전자")
        with pytest.raises(OrderRejected) as refused:
            gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 1, quote.lower_limit + 1, client_order_id="flow-tick"))
        assert refused.value.broker_code == "EMUL_TICK_SIZE"
        assert filled.order_id != resting.order_id
    gateway.close()
    assert emulator.stats["tokens_issued"] == 1 and emulator.stats.get("rate_limited", 0) == 0


def test_calls_past_kis_rate_are_refused_with_egw00201(tmp_path: Path) -> None:
    with KisEmulator(speed=0, rate_per_s=2) as emulator, KisRestGateway(kis_config(emulator, tmp_path)) as gateway:
        with pytest.raises(RateLimitExceeded) as caught:
            for _ in range(5):
                gateway.check_health()
        assert caught.value.broker_code == "EGW00201"
        gateway.close()


def test_a_real_domain_tr_id_on_the_paper_domain_is_egw02004(emulator: KisEmulator, tmp_path: Path) -> None:
    with KisRestGateway(kis_config(emulator, tmp_path, env="real")) as gateway, pytest.raises(ConfigurationError) as caught:
        gateway.get_balance()
    gateway.close()
    assert caught.value.broker_code == "EGW02004"


def test_a_second_token_within_a_minute_is_refused_by_the_emulator(emulator: KisEmulator) -> None:
    body = {"grant_type": "client_credentials", "appkey": "k", "appsecret": "s"}
    assert requests.post(f"{emulator.url}/oauth2/tokenP", json=body, timeout=5).status_code == 200
    second = requests.post(f"{emulator.url}/oauth2/tokenP", json=body, timeout=5)
    assert second.status_code == 403 and second.json()["error_code"] == "EGW00133"


def test_four_processes_share_one_token(emulator: KisEmulator, tmp_path: Path) -> None:
    procs = [worker("connect", emulator.url, str(tmp_path)) for _ in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert emulator.stats["tokens_issued"] == 1


def test_four_processes_of_eight_threads_on_one_app_key_get_no_egw00201(tmp_path: Path) -> None:
    # The emulator allows 20 calls a second per app key, as KIS's real domain does; the processes
    # share an 18/s budget in SQLite.
    with KisEmulator(speed=0, rate_per_s=20) as emulator:
        procs = [worker("load", emulator.url, str(tmp_path), "4") for _ in range(4)]
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
        assert [r["refused"] for r in reports] == [0, 0, 0, 0]
        assert emulator.stats.get("rate_limited", 0) == 0 and emulator.stats["calls"] >= 4 * 8 * 4


def test_200_orders_with_15_percent_of_answers_lost_make_200_orders(tmp_path: Path) -> None:
    faults = Faults(drop_after_commit=0.15, seed=7)
    with KisEmulator(speed=0, rate_per_s=1000, faults=faults) as emulator:
        config = kis_config(emulator, tmp_path, retry=RetryPolicy(max_attempts=4, initial_backoff_s=0.01, max_backoff_s=0.05, budget_s=10.0),
                            settle_s=0.2)
        with KisRestGateway(config) as gateway:
            price = gateway.get_quote("005930").lower_limit
            ids = [f"lossy-{n:03d}" for n in range(200)]
            results = [gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 1, price, client_order_id=cid)) for cid in ids]
            listed = gateway.list_orders()
        gateway.close()
        assert emulator.stats["answers_dropped"] > 10  # the faults did hit
        assert emulator.stats["orders"] == 200
        assert sorted(o.client_order_id for o in listed) == ids
        assert len({r.order_id for r in results}) == 200


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["killed", "interrupted"])
def test_a_sender_stopped_before_the_answer_is_reconciled_by_the_next(tmp_path: Path, signum: int) -> None:
    with KisEmulator(speed=0, rate_per_s=1000) as emulator:
        price = emulator.state.market.quote("005930").lower_limit
        emulator.state.faults = Faults(latency_s=30.0)  # the order is taken, its answer held back
        sender = worker("send", emulator.url, str(tmp_path), f"killed-1,{price}")
        assert sender.stdout is not None and sender.stdout.readline().strip() == "sending"
        wait_until(lambda: emulator.stats.get("orders", 0) == 1, what="the emulator took the order")
        sender.send_signal(signum)
        sender.wait(timeout=10)
        if signum == signal.SIGINT:  # Ctrl-C stays an interrupt, naming the order that may have left
            assert sender.stderr is not None
            err = sender.stderr.read()
            assert "KeyboardInterrupt" in err and "KIS order killed-1 may have been placed" in err
        emulator.state.faults = Faults()  # answers on time again
        reconciler = worker("reconcile", emulator.url, str(tmp_path), "killed-1")
        out, err = reconciler.communicate(timeout=60)
        assert reconciler.returncode == 0, err
        report = json.loads(out.strip().splitlines()[-1])
        assert report["before"] == ["killed-1"] and report["after"] == []
        assert report["state"] == JournalState.PLACED.value and report["order_id"].endswith("-06010-0000000001")
        # Placing it again sends nothing: the journal returns the order it was bound to.
        with KisRestGateway(kis_config(emulator, tmp_path)) as gateway:
            again = gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 1, price, client_order_id="killed-1"))
        gateway.close()
        assert again.duplicate and again.order_id == report["order_id"] and emulator.stats["orders"] == 1


def test_quotes_stream_over_the_websocket_feed_and_survive_a_break(tmp_path: Path) -> None:
    with KisEmulator(speed=0, rate_per_s=1000) as emulator:
        emulator.state.ping_interval_s = 0.2
        emulator.state.feed_extra_fields = 3  # KIS appends fields over time: a client reads by position
        with KisRestGateway(kis_config(emulator, tmp_path)) as gateway:
            stream = gateway.stream_quotes(["005930", "000660"])
            first = [next(stream), next(stream)]
            assert [q.symbol for q in first] == ["005930", "000660"]  # the current quotes first (REST)
            before = {q.symbol: q.price for q in first}
            time.sleep(0.5)  # a PINGPONG or two arrive before the next frames: the reader echoes them
            for _ in range(8):
                emulator.step()
            moved = [next(stream) for _ in range(2)]
            wait_until(lambda: emulator.stats.get("feed_pongs", 0) >= 1, what="the client echoed a PINGPONG")
            assert {q.symbol for q in moved} <= {"005930", "000660"}
            assert all(isinstance(q, Quote) and q.time.tzinfo is not None for q in moved)
            assert any(q.price != before[q.symbol] or q.volume for q in moved)
            # The server drops every feed session: the stream connects again and says what it missed.
            emulator.state.stopping.set()
            time.sleep(0.3)  # the feed loop sees it within 0.05 s and ends the session
            emulator.state.stopping.clear()
            item = next(stream)
            while not isinstance(item, QuoteGap):
                item = next(stream)
            assert item.symbols == ("005930", "000660") and item.end >= item.start
            assert [next(stream).symbol for _ in range(2)] == ["005930", "000660"]
            stream.close()
            assert list(stream) == []
        gateway.close()
        assert emulator.stats["feed_sessions"] == 2


def test_more_than_20_symbols_a_stream_are_refused(emulator: KisEmulator, tmp_path: Path) -> None:
    codes = [s.code for s in emulator.state.market.symbols()[:21]]
    with KisRestGateway(kis_config(emulator, tmp_path)) as gateway, pytest.raises(InvalidRequest) as caught:
        gateway.stream_quotes(codes)
    gateway.close()
    assert caught.value.code == "TOO_MANY_SYMBOLS"


@pytest.mark.parametrize("skew_s", [-30.0, 30.0], ids=["kis-behind", "kis-ahead"])
def test_a_lost_answer_is_found_whatever_the_clocks_say(tmp_path: Path, skew_s: float) -> None:
    # KIS stamps orders on its own clock; the lookup places the send on it through KIS's Date header.
    with KisEmulator(speed=0, rate_per_s=1000, faults=Faults(drop_after_commit=1.0)) as emulator:
        emulator.state.clock_skew_s = skew_s
        config = kis_config(emulator, tmp_path, timeouts=Timeouts(order_s=1.0), settle_s=0.2)
        with KisRestGateway(config) as gateway:
            price = gateway.get_quote("005930").lower_limit
            result = gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 1, price, client_order_id="skewed"))
        gateway.close()
        assert emulator.stats["orders"] == 1 and emulator.stats["answers_dropped"] == 1
        assert result.client_order_id == "skewed" and not result.duplicate


def test_threads_placing_one_client_order_id_at_once_send_it_once(tmp_path: Path) -> None:
    with KisEmulator(speed=0, rate_per_s=1000, faults=Faults(latency_s=0.3)) as emulator:
        with KisRestGateway(kis_config(emulator, tmp_path)) as gateway:
            price = gateway.get_quote("005930").lower_limit
            order = limit_order(ACCOUNT, "005930", Side.BUY, 1, price, client_order_id="raced")
            outcomes: list[object] = []
            start = threading.Barrier(8)

            def place() -> None:
                start.wait()
                try:
                    outcomes.append(gateway.place_order(order))
                except OrderStatusUnknown as exc:  # "being sent by another call": never a second send
                    outcomes.append(exc)

            threads = [threading.Thread(target=place) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        gateway.close()
        assert emulator.stats["orders"] == 1 and len(outcomes) == 8
        placed = [o for o in outcomes if not isinstance(o, OrderStatusUnknown)]
        assert placed and len({o.order_id for o in placed}) == 1  # type: ignore[attr-defined]
