"""``CandleChart``: candlesticks and volume of one symbol, painted with Qt, loaded in pieces."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QCloseEvent, QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from jts_broker.domain.enums import Timeframe
from jts_broker.domain.errors import JtsBrokerError
from jts_broker.domain.gateway import IAsyncBrokerGateway
from jts_broker.domain.market_data import Candle

from .tasks import Tasks

UP, DOWN = QColor("#d32f2f"), QColor("#1565c0")  # Korean convention: rises red, falls blue


class CandleChart(QWidget):
    """Candlesticks (top three quarters) and volume bars (bottom quarter) of the candles set,
    oldest left; rising candles red and falling ones blue, as Korean charts draw them.

    :meth:`load` downloads a range through an asyncio gateway in pieces of ``piece_days``
    calendar days, as a task on the running loop (qasync): ``progress(done, total)`` after each
    piece, ``loaded(count)`` at the end, ``failed(str)`` on an error; :meth:`cancel` stops it
    (what came so far stays shown). The window stays responsive throughout.

    Signals:
        progress(int, int): pieces done, pieces in all.
        loaded(int): candles shown after a load.
        failed(str): the load's error, one line.
    """

    progress = Signal(int, int)
    loaded = Signal(int)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.candles: list[Candle] = []
        self._tasks = Tasks()
        self.setMinimumHeight(160)

    def set_candles(self, candles: Sequence[Candle]) -> None:
        """Show ``candles`` (oldest first)."""
        self.candles = list(candles)
        self.update()

    def load(self, gateway: IAsyncBrokerGateway, symbol: str, timeframe: Timeframe, start: date, end: date, piece_days: int = 365) -> None:
        """Download [start, end] (trading dates, inclusive) and show it; replaces a load under way."""
        self.cancel()
        self._tasks.start(self._load(gateway, symbol, timeframe, start, end, piece_days), "jts-candle-load")

    def cancel(self) -> None:
        """Stop a load under way."""
        self._tasks.cancel_all()

    async def _load(self, gateway: IAsyncBrokerGateway, symbol: str, timeframe: Timeframe, start: date, end: date, piece_days: int) -> None:
        pieces = []
        day = start
        while day <= end:
            pieces.append((day, min(end, day + timedelta(days=piece_days - 1))))
            day += timedelta(days=piece_days)
        self.set_candles([])
        got: list[Candle] = []
        try:
            for i, (first, last) in enumerate(pieces, start=1):
                got.extend(await gateway.get_candles(symbol, timeframe, first, last))
                self.set_candles(got)
                self.progress.emit(i, len(pieces))
        except JtsBrokerError as error:
            self.failed.emit(f"{type(error).__name__} [{error.code}]: {error.message}")
            return
        self.loaded.emit(len(got))

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt names it
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("white"))
        if not self.candles:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "no candles")
            return
        # More candles than pixel columns (10 years of days on a 600-pixel chart): each column
        # draws the merged candle of its share, so a paint costs the width, not the history.
        candles = _columns(self.candles, max(1, self.width() // 2))
        # Floats place pixels only; no price is computed or shown through them.
        width, height = self.width(), self.height()
        price_h, volume_h = height * 0.75, height * 0.22
        high = float(max(c.high for c in candles))
        low = float(min(c.low for c in candles))
        span = (high - low) or 1.0
        top_volume = max(c.volume for c in candles) or 1
        step = width / len(candles)

        def y(price: float) -> float:
            return (high - price) / span * (price_h - 4) + 2

        for i, c in enumerate(candles):
            colour = UP if c.close >= c.open else DOWN
            x = i * step
            middle = x + step / 2
            painter.setPen(QPen(colour))
            painter.drawLine(int(middle), int(y(float(c.high))), int(middle), int(y(float(c.low))))
            body_top, body_bottom = y(float(max(c.open, c.close))), y(float(min(c.open, c.close)))
            painter.fillRect(QRectF(x + step * 0.15, body_top, max(1.0, step * 0.7), max(1.0, body_bottom - body_top)), colour)
            bar = c.volume / top_volume * volume_h
            painter.fillRect(QRectF(x + step * 0.15, height - bar, max(1.0, step * 0.7), bar), colour.lighter(150))
        painter.end()

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt names it
        self.cancel()
        super().closeEvent(event)


def _columns(candles: list[Candle], columns: int) -> list[Candle]:
    """``candles`` merged into at most ``columns`` consecutive groups (open of the first, close of
    the last, extremes and summed volume), for drawing."""
    if len(candles) <= columns:
        return candles
    size = -(-len(candles) // columns)
    out = []
    for i in range(0, len(candles), size):
        group = candles[i:i + size]
        out.append(Candle(group[0].time, group[0].open, max(c.high for c in group), min(c.low for c in group), group[-1].close,
                          sum(c.volume for c in group)))
    return out
