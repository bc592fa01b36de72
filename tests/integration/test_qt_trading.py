"""The example app's trading panels on Qt's offscreen platform, against a real simulator, with
asyncio on the Qt event loop (qasync): the order ticket places a paper order the simulator holds
and shows a typed rejection; the candle chart loads ten years in pieces with progress and can be
cancelled; the tick-aware price field steps along the KRX grid."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import pytest
import qasync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from jts_broker import AsyncGrpcBrokerGateway, BrokerConfig, Timeframe
from jts_broker.domain.enums import OrderStatus
from jts_broker.qt.account_panel import AccountPanel
from jts_broker.qt.candle_chart import CandleChart
from jts_broker.qt.order_ticket import OrderTicket
from jts_broker.qt.price_spin import TickPriceSpinBox
from jts_broker.qt.symbol_search import SymbolSearch
from jts_broker.server import SimulatorServer

pytestmark = pytest.mark.integration
T = TypeVar("T")
ACCOUNT = "50000001-01"


@pytest.fixture()
def on_qt_loop(qtbot: QtBot) -> Iterator[Callable[[Callable[[], Awaitable[T]]], T]]:
    """Run a coroutine to its end on qasync's loop over the test's QApplication."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    def run(scenario: Callable[[], Awaitable[T]]) -> T:
        return loop.run_until_complete(asyncio.wait_for(scenario(), 60))  # type: ignore[arg-type]

    try:
        yield run
    finally:
        asyncio.set_event_loop(None)
        loop.close()


async def until(condition: Callable[[], Any]) -> None:
    while not condition():
        await asyncio.sleep(0.02)


def test_the_order_ticket_places_a_paper_order_the_simulator_holds(qtbot: QtBot, on_qt_loop: Any) -> None:
    with SimulatorServer(speed=0) as server:
        async def scenario() -> None:
            async with AsyncGrpcBrokerGateway(BrokerConfig.from_target(server.target)) as gateway:
                ticket = OrderTicket(gateway, [ACCOUNT])
                qtbot.addWidget(ticket)
                placed: list[Any] = []
                failed: list[str] = []
                ticket.placed.connect(placed.append)
                ticket.failed.connect(failed.append)
                ticket.quantity.setValue(3)
                ticket.price.setValue(server.market.quote("005930").ask)
                ticket.place_button.click()
                assert not ticket.place_button.isEnabled()  # on its way: no double click
                await until(lambda: placed)
                order = placed[0].order
                assert order.status is OrderStatus.FILLED and order.quantity == 3
                held = {o.order_id for o in server.broker.orders(ACCOUNT)}
                assert order.order_id in held and ticket.outcome.text().startswith(f"{order.order_id}: filled, 3/3 filled at ")
                ticket.side.setCurrentText("sell")
                ticket.order_type.setCurrentText("market")
                assert not ticket.price.isEnabled()
                ticket.quantity.setValue(10)  # holds 3
                ticket.place_button.click()
                await until(lambda: failed)
                assert failed[0].startswith("OrderRejected [INSUFFICIENT_QUANTITY]") and ticket.place_button.isEnabled()

        on_qt_loop(scenario)


def test_the_chart_loads_ten_years_in_pieces_with_progress_and_can_be_cancelled(qtbot: QtBot, on_qt_loop: Any) -> None:
    with SimulatorServer(speed=0) as server:
        async def scenario() -> None:
            async with AsyncGrpcBrokerGateway(BrokerConfig.from_target(server.target)) as gateway:
                chart = CandleChart()
                qtbot.addWidget(chart)
                chart.resize(800, 300)
                chart.show()
                progress: list[tuple[int, int]] = []
                loaded: list[int] = []
                chart.progress.connect(lambda done, total: progress.append((done, total)))
                chart.loaded.connect(loaded.append)
                chart.load(gateway, "005930", Timeframe.DAY, date(2000, 1, 1), date(2026, 3, 17))
                await until(lambda: loaded)
                assert loaded == [6455] and len(chart.candles) == 6455  # every daily bar of the file, 2000-2026
                assert progress[-1] == (27, 27) and [d for d, _ in progress] == list(range(1, 28))
                assert chart.candles == sorted(chart.candles, key=lambda c: c.time)
                chart.grab()  # paints 6,455 candles without error
                progress.clear()
                chart.load(gateway, "005930", Timeframe.DAY, date(2000, 1, 1), date(2026, 3, 17), piece_days=30)
                await until(lambda: len(progress) >= 2)
                chart.cancel()
                await asyncio.sleep(0.3)
                assert progress[-1][0] < progress[-1][1] and len(loaded) == 1  # stopped part way; no second "loaded"
                assert 0 < len(chart.candles) < 6455  # what came so far stays shown

        on_qt_loop(scenario)


def test_symbol_search_and_the_account_panel(qtbot: QtBot, on_qt_loop: Any) -> None:
    with SimulatorServer(speed=0) as server:
        async def scenario() -> None:
            async with AsyncGrpcBrokerGateway(BrokerConfig.from_target(server.target)) as gateway:
                search = SymbolSearch(gateway)
                qtbot.addWidget(search)
                chosen: list[str] = []
                search.chosen.connect(chosen.append)
                search.query.setText("삼성전자")
                await until(lambda: search.results.count() == 2)
                assert search.results.item(0).text() == "005930 삼성전자"
                search.results.itemClicked.emit(search.results.item(0))
                assert chosen == ["005930"]
                panel = AccountPanel(gateway, ACCOUNT, refresh_s=0.2)
                qtbot.addWidget(panel)
                await until(lambda: "cash 100,000,000" in panel.balance.text())
                panel.close()

        on_qt_loop(scenario)


def test_the_price_field_steps_along_the_krx_tick_grid(qtbot: QtBot) -> None:
    field = TickPriceSpinBox(on=date(2026, 3, 17))
    qtbot.addWidget(field)
    field.setValue(Decimal(49_950))
    field.stepBy(1)
    assert field.value() == Decimal(50_000) and field.lineEdit().text() == "50,000"
    field.stepBy(1)
    assert field.value() == Decimal(50_100)  # 100-won ticks from 50,000 (table of 2023-01-25)
    field.stepBy(-2)
    assert field.value() == Decimal(49_950)
    field.lineEdit().setText("77,350")
    field.lineEdit().editingFinished.emit()
    assert field.value() == Decimal(77_300)  # typed off the grid: snapped down to it
    qtbot.keyClick(field, Qt.Key.Key_Up)
    assert field.value() == Decimal(77_400)
