"""Qt widgets of jts-broker, on PySide6 (the extra ``jts-broker[qt]``), each usable alone in any
PySide6 application:

- :class:`RateLimitIndicator`: the rate-limit budgets of a gateway, live (FR-005);
- :class:`BrokerStatusWidget`: every broker of a :class:`~jts_broker.client.registry.BrokerRegistry`,
  its connection status, latency and last error, following reconnects by itself;
- :class:`BrokerConfigDialog`: the brokers and accounts of ``jts-broker.toml``, validated by the
  config loader and written atomically with its comments kept;
- :class:`QuotePanel`: live quotes from an asyncio gateway on the Qt event loop (qasync);
- :func:`qt_asyncio_loop`: asyncio on the Qt event loop (qasync) for the asyncio gateway, closed
  safely;
- :class:`ListenerBridge`: SDK listeners (connection status, rate-limit usage), which the SDK calls
  on its own threads, turned into Qt signals delivered on the thread that owns the bridge.

Nothing here blocks the thread it runs on: network calls (health checks, reconnects, usage reads
of a shared budget) run on a worker thread and come back as signals.
"""

from __future__ import annotations

try:
    import PySide6  # noqa: F401  # the extra's presence, checked once with a useful message
except ModuleNotFoundError as exc:
    raise ModuleNotFoundError("jts_broker.qt needs PySide6: pip install 'jts-broker[qt]'", name=exc.name) from exc

from .bridge import ListenerBridge
from .config_dialog import BrokerConfigDialog
from .event_loop import qt_asyncio_loop
from .quote_panel import QuotePanel
from .rate_limit_indicator import RateLimitIndicator
from .status_widget import BrokerStatusWidget

__all__ = ["BrokerConfigDialog", "BrokerStatusWidget", "ListenerBridge", "QuotePanel", "RateLimitIndicator", "qt_asyncio_loop"]
