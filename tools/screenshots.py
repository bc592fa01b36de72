"""``make screenshot``: the example window and each widget rendered offscreen to PNGs in docs/.

A simulator runs in this process at 600x speed; after a few seconds of live quotes (a symbol
searched, its chart loaded, one paper order placed), the window and the widgets are grabbed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication, QWidget

from jts_broker import AsyncGrpcBrokerGateway, BrokerConfig
from jts_broker.client.registry import BrokerRegistry
from jts_broker.paper.data_loader import load_market
from jts_broker.qt import BrokerConfigDialog, qt_asyncio_loop
from jts_broker.qt.app import MainWindow
from jts_broker.server import SimulatorServer


def save(widget: QWidget, path: Path) -> None:
    if not widget.grab().save(str(path)):
        raise SystemExit(f"could not write {path}")
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")


async def shoot(out: Path, server: SimulatorServer) -> None:
    config = BrokerConfig.from_target(server.target)
    with BrokerRegistry({"simulator": config}) as registry:
        async with AsyncGrpcBrokerGateway(config) as gateway:
            window = MainWindow(registry, gateway, ["005930", "000660", "035420", "069500"], ["50000001-01"])
            window.show()
            window.start()
            window.show_symbol("005930")
            window.search.query.setText("삼성")
            await asyncio.sleep(2)
            window.ticket.quantity.setValue(10)
            window.ticket.price.setValue(server.market.quote("005930").ask)
            window.ticket.place_button.click()
            await asyncio.sleep(3)
            save(window, out / "app.png")
            save(window.status, out / "broker-status.png")
            save(window.limits, out / "rate-limit-indicator.png")
            save(window.ticket, out / "order-ticket.png")
            window.close()
            await window.quotes.stop()
    with tempfile.TemporaryDirectory() as tmp:
        dialog = BrokerConfigDialog(Path(tmp) / "jts-broker.toml")
        dialog.resize(760, 720)
        dialog.show()
        await asyncio.sleep(0.3)
        save(dialog, out / "config-dialog.png")
        dialog.reject()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    out.mkdir(parents=True, exist_ok=True)
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([])
    app.setQuitOnLastWindowClosed(False)  # closing the window must not stop the loop before the dialog is shot
    market = load_market(None, last_days=20)
    with SimulatorServer(market=market, speed=600) as server, qt_asyncio_loop(app) as loop:
        loop.run_until_complete(shoot(out, server))


if __name__ == "__main__":
    main()
