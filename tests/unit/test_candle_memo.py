"""The server's memo of encoded candles (jts_broker.server.services._EncodedCandles): answers come
back in order and equal to a fresh encoding, an answer longer than the memo keeps its head
encoded, and another symbol's answer takes the memo over."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from jts_broker.contract._generated import mappers as m
from jts_broker.contract.columns import packed_to_proto
from jts_broker.domain.candle_columns import pack_candles
from jts_broker.domain.market_data import Candle
from jts_broker.domain.timeutil import KST
from jts_broker.server.services import _EncodedCandles

START = datetime(2026, 3, 17, 9, 0, tzinfo=KST)


def candles(n: int, base: int = 70_000) -> list[Candle]:
    return [Candle(START + timedelta(minutes=i), Decimal(base + i), Decimal(base + i + 100), Decimal(base + i - 100), Decimal(base + i + 50), i)
            for i in range(n)]


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, candle: Candle) -> tuple[int, int]:
        self.calls += 1
        return candle.volume, int(candle.close)


def test_an_answer_longer_than_the_memo_keeps_its_head_encoded():
    memo, encode, answer = _EncodedCandles(max_entries=10), Counting(), candles(25)
    assert memo._encode(memo._bars, encode, answer) == [(c.volume, int(c.close)) for c in answer]
    assert encode.calls == 25
    assert memo._encode(memo._bars, encode, answer) == [(c.volume, int(c.close)) for c in answer]
    assert encode.calls == 25 + 15  # the first 10 came from the memo (it used to empty itself every call)


def test_another_answer_takes_a_full_memo_over():
    memo, encode = _EncodedCandles(max_entries=10), Counting()
    first, second = candles(10), candles(8, base=90_000)
    memo._encode(memo._bars, encode, first)
    memo._encode(memo._bars, encode, second)  # starts with a candle the full memo does not hold: emptied, refilled
    assert encode.calls == 18
    assert memo._encode(memo._bars, encode, second) == [(c.volume, int(c.close)) for c in second]
    assert encode.calls == 18  # all held
    assert memo._encode(memo._bars, encode, first[:2]) == [(c.volume, int(c.close)) for c in first[:2]]
    assert encode.calls == 20  # the memo has room (8 of 10): it keeps the second answer and adds these


def test_the_layouts_answer_equal_to_a_fresh_encoding():
    memo, answer = _EncodedCandles(max_entries=5), candles(12)
    for _ in range(2):
        assert memo.rows(answer) == [m.candle_to_proto(c) for c in answer]
        assert memo.columns(answer) == packed_to_proto(pack_candles(answer))
