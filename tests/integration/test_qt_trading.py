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
from PySide6.QtCore import Qt
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from jts_broker import AsyncGrpcBrokerGateway, BrokerConfig, RetryPolicy, Timeframe
from jts_broker.domain.enums import OrderStatus
from jts_broker.qt import qt_asyncio_loop
from jts_broker.qt.account_panel import AccountPanel
from jts_broker.qt.candle_chart import CandleChart
from jts_broker.qt.order_ticket import OrderTicket
from jts_broker.qt.price_spin import TickPriceSpinBox
from jts_broker.qt.symbol_search import SymbolSearch
from jts_broker.server import SimulatorServer
from jts_broker.server.faults import FaultPlan

pytestmark = pytest.mark.integration
T = TypeVar("T")
ACCOUNT = "50000001-01"


@pytest.fixture()
def on_qt_loop(qtbot: QtBot) -> Iterator[Callable[[Callable[[], Awaitable[T]]], T]]:
    """Run a coroutine to its end on qasync's loop over the test's QApplication."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    with qt_asyncio_loop(app) as loop:
        def run(scenario: Callable[[], Awaitable[T]]) -> T:
            return loop.run_until_complete(asyncio.wait_for(scenario(), 60))  # type: ignore[arg-type]

        yield run


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
                assert not ticket.place_button.isEnabled()  # on its way
                ticket.place()  # a second click (or a keyboard shortcut) while it is in flight sends nothing
                await until(lambda: placed)
                await asyncio.sleep(0.2)
                assert len(placed) == 1 and len(server.broker.orders(ACCOUNT)) == 1
                order = placed[0].order
                assert order.status is OrderStatus.FILLED and order.quantity == 3
                held = {o.order_id for o in server.broker.orders(ACCOUNT)}
                assert order.order_id in held and ticket.outcome.text().startswith(f"{order.order_id} ({order.client_order_id}): filled, 3/3 filled at ")
                ticket.side.setCurrentText("sell")
                ticket.order_type.setCurrentText("market")
                assert not ticket.price.isEnabled()
                ticket.quantity.setValue(10)  # holds 3
                ticket.place_button.click()
                await until(lambda: failed)
                assert failed[0].startswith("OrderRejected [INSUFFICIENT_QUANTITY]") and ticket.place_button.isEnabled()

        on_qt_loop(scenario)


def test_an_order_whose_outcome_is_unknown_is_resent_with_the_same_client_order_id(qtbot: QtBot, on_qt_loop: Any) -> None:
    with SimulatorServer(speed=0) as server:
        async def scenario() -> None:
            retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.05, max_backoff_s=0.1, budget_s=0.6)
            async with AsyncGrpcBrokerGateway(BrokerConfig.from_target(server.target, retry=retry, order_journal=None)) as gateway:
                ticket = OrderTicket(gateway, [ACCOUNT])
                qtbot.addWidget(ticket)
                failed: list[str] = []
                placed: list[Any] = []
                ticket.failed.connect(failed.append)
                ticket.placed.connect(placed.append)
                ticket.price.setValue(server.market.quote("005930").price - 1000)  # rests
                # The server takes the order and loses the answer, and every lookup fails too.
                server.faults.set(FaultPlan(drop_after_commit=1.0, methods=frozenset({"PlaceOrder"})),
                                  FaultPlan(error_rates={"UNAVAILABLE": 1.0}, methods=frozenset({"GetOrder"})))
                ticket.place_button.click()
                await until(lambda: failed)
                assert failed[0].startswith("OrderStatusUnknown") and ticket.place_button.text() == "Resend (same id)"
                [taken] = server.broker.orders(ACCOUNT)
                assert taken.client_order_id in failed[0]
                server.faults.clear()
                ticket.place_button.click()  # the same request again: the broker knows it
                await until(lambda: placed)
                assert placed[0].duplicate and placed[0].order.order_id == taken.order_id
                assert len(server.broker.orders(ACCOUNT)) == 1 and ticket.place_button.text() == "Place"

        on_qt_loop(scenario)


def test_a_price_off_the_tick_grid_is_refused_not_rounded(qtbot: QtBot, on_qt_loop: Any) -> None:
    with SimulatorServer(speed=0) as server:
        async def scenario() -> None:
            async with AsyncGrpcBrokerGateway(BrokerConfig.from_target(server.target)) as gateway:
                ticket = OrderTicket(gateway, [ACCOUNT])
                qtbot.addWidget(ticket)
                ticket.price.lineEdit().setText("77,350")
                ticket.place_button.click()
                await asyncio.sleep(0.2)
                assert ticket.outcome.text() == "price 77,350 is off the tick grid: 77,300 or 77,400"
                assert server.broker.orders(ACCOUNT) == []

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
    field.lineEdit().selectAll()
    qtbot.keyClicks(field, "77350")  # typed as a user types
    field.lineEdit().editingFinished.emit()
    assert field.lineEdit().text() == "77350" and "off the tick grid" in field.problem()  # kept as typed, never rounded behind the user
    qtbot.keyClick(field, Qt.Key.Key_Up)
    assert field.value() == Decimal(77_400) and field.problem() == ""  # the arrow goes to the grid
    field.lineEdit().selectAll()
    qtbot.keyClicks(field, "77350")
    qtbot.keyClick(field, Qt.Key.Key_Down)
    assert field.value() == Decimal(77_300)
    field.lineEdit().setText("Infinity")
    assert field.problem() == "price 'Infinity' is not a price in KRW"
    assert field.validate("1e9", 0)[0] is QValidator.State.Invalid and field.validate("-5", 0)[0] is QValidator.State.Invalid
