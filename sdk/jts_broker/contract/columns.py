"""The packed ``CandleColumns`` message <-> :class:`~jts_broker.domain.candle_columns.PackedCandles`,
and the paging rule both sides of ``GetCandles`` follow."""

from __future__ import annotations

from jts_broker.contract._generated.pb import market_data_pb2
from jts_broker.domain.candle_columns import PackedCandles
from jts_broker.domain.errors import ServerError

PAGE_CANDLES = 500_000
"""The most bars a client asks for in one ``GetCandles`` answer (``max_candles``): as columns
about 13 MB, far under the channel's message limit (``wire.MAX_MESSAGE_BYTES``); longer ranges
come in pages."""


def packed_from_proto(message: market_data_pb2.CandleColumns) -> PackedCandles:
    """The columns of ``message``, without copying them out of the message (the repeated fields
    are sequences numpy reads directly).

    Raises:
        ServerError: columns of different lengths or a price scale out of range
            (``MALFORMED_MESSAGE``).
    """
    return PackedCandles(message.times, message.price_scale, message.open, message.high, message.low, message.close,
                         message.volume).check()


def packed_to_proto(packed: PackedCandles) -> market_data_pb2.CandleColumns:
    """``packed`` as the message.

    Raises:
        ServerError: a value that does not fit in 64 bits (``MALFORMED_CANDLE``).
    """
    try:
        return market_data_pb2.CandleColumns(times=packed.times, price_scale=packed.price_scale, open=packed.open, high=packed.high,
                                             low=packed.low, close=packed.close, volume=packed.volume)
    except (ValueError, TypeError) as exc:  # upb refuses an int beyond int64
        raise ServerError(f"candle columns cannot be encoded: a value does not fit in 64 bits ({exc})", code="MALFORMED_CANDLE") from None
