"""``KisEmulator``: KIS's Open API over the paper engine and the bundled KRX data, on real HTTP.

Try the KIS backend with no account, and test ``KisRestGateway`` through real sockets:
``jts-broker kis-emulator --port 8443`` and a config whose ``base_url`` points at it.

Reproduced: the REST endpoints ``KisRestGateway`` calls (token, price, order book, period and
1-minute candles, balance and orderable cash, the day's orders, order-cash, cancel) with KIS's JSON
shapes (every value a string), the headers (``tr_id`` per domain, ``tr_cont`` paging with
``CTX_AREA_*``), error bodies (``rt_cd``/``msg_cd``/``msg1``; the token endpoint's
``error_code``/``error_description``) and limits: ``EGW00201`` past ``rate_per_s`` calls a second
per app key, ``EGW00133`` for a second token within a minute, ``EGW00123`` for an expired token,
``EGW02004`` for a transaction of the other domain. Faults: answers cut after an order was taken,
latency, HTTP 5xx on reads.

The real-time feed (``/tryitout`` on the same port, WebSocket): approval keys, subscriptions of
``H0STCNT0`` and ``H0STASP0`` (at most 40 a session), a frame per subscribed symbol each time the
replay steps, ``PINGPONG`` every ``ping_interval_s``.

Not reproduced: encrypted feeds (order notices), amendments (``RVSE_CNCL_DVSN_CD`` 01), hashkeys, other
markets (NXT, SOR), credit orders, KIS's own refusal codes for orders (the emulator answers
``EMUL_<code>`` with the paper engine's reason, e.g. ``EMUL_TICK_SIZE``), and the exact page sizes
of KIS (balance pages of 50 rows real / 20 paper, order pages of 20). Order times are the wall
clock; prices are the replayed session's (the data's dates). Plain HTTP only: the emulator is for
loopback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from jts_broker.domain.enums import AccountType
from jts_broker.domain.errors import BrokerUnavailable, ConfigurationError
from jts_broker.domain.trading import Account
from jts_broker.paper.broker import PaperBroker
from jts_broker.paper.clock import ClockRunner
from jts_broker.paper.data_loader import load_market
from jts_broker.paper.market import BarMarket

from .app import EmulatorState, Faults, create_app

__all__ = ["DEFAULT_ACCOUNT", "Faults", "KisEmulator"]

DEFAULT_ACCOUNT = "50000001-01"
KIS_HEADERS = ("tr_id", "tr_cont", "gt_uid", "seq_no", "mac_address", "phone_number", "ip_addr", "hashkey")
"""KIS's request headers whose names hold an underscore."""


class _KisRequestHandler(WSGIRequestHandler):
    """Werkzeug workaround: its server drops every request header whose name holds an underscore
    (against header spoofing through ``HTTP_X_Y``), and KIS's own headers are ``tr_id`` and
    ``tr_cont``. These few are put back, by name, under their WSGI keys (``HTTP_TR_ID``).
    Tested by every emulator test (a call without its ``tr_id`` is refused)."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header on the emulated KIS clock (``EmulatorState.clock_skew_s``)."""
        state = getattr(self.server, "kis_state", None)
        skew = state.clock_skew_s if state is not None else 0.0
        return super().date_time_string((time.time() if timestamp is None else timestamp) + skew)

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        for name in KIS_HEADERS:
            value = self.headers.get(name)
            if value is not None:
                environ[f"HTTP_{name.upper()}"] = value.replace("\r\n", "")
        return environ


class KisEmulator:
    """A KIS Open API emulator serving HTTP on ``host:port`` (port 0: a free one).

    Args:
        env: ``"paper"`` (the ``VTTC...`` transaction ids) or ``"real"``.
        accounts: account numbers (``CANO-ACNT_PRDT_CD``); default one, ``50000001-01``.
        credentials: app key -> app secret accepted; None accepts any non-empty pair.
        rate_per_s: calls a second per app key before ``EGW00201``; default KIS's (20 real, 2 paper).
        token_ttl_s: how long a token lives, seconds (KIS: about a day).
        data_dir, start, end: the paper market's data (default the bundled KRX data) and the trading
            days it replays (default the latest only).
        initial_cash: each account's cash, KRW.
        speed: market seconds per real second of the market clock; 0 leaves it still (drive it
            with :meth:`step`).
        faults: faults to inject.
        market: a ready market (overrides ``data_dir``, ``start`` and ``end``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, env: str = "paper", accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,),
                 credentials: Mapping[str, str] | None = None, rate_per_s: int | None = None, token_ttl_s: float = 86_400.0,
                 data_dir: Path | None = None, start: date | None = None, end: date | None = None,
                 initial_cash: Decimal = Decimal(100_000_000), speed: float = 60.0, faults: Faults | None = None,
                 market: BarMarket | None = None) -> None:
        if env not in ("paper", "real"):
            raise ConfigurationError(f'emulator env must be "paper" or "real", got {env!r}')
        market = market or load_market(data_dir, start, end)
        kind = AccountType.PAPER if env == "paper" else AccountType.REAL
        broker = PaperBroker(market, [Account(a, f"KIS emulator {a}", kind) for a in accounts], initial_cash)
        self.state = EmulatorState(broker, env, credentials=credentials, rate_per_s=rate_per_s or (20 if env == "real" else 2),
                                   token_ttl_s=token_ttl_s, faults=faults or Faults())
        self.host, self._requested_port = host, port
        self.runner = ClockRunner(market.clock, speed)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """``http://host:port``: a ``KisConfig.base_url``."""
        return f"http://{self.host}:{self.port}"

    @property
    def stats(self) -> dict[str, int]:
        """What it counted: ``tokens_issued``, ``calls``, ``rate_limited``, ``orders``,
        ``answers_dropped``, ``faults_5xx``, ``token_refused``."""
        with self.state.lock:
            return dict(self.state.stats)

    def start(self) -> KisEmulator:
        """Bind and serve on threads of its own; returns self.

        Raises:
            BrokerUnavailable: the port cannot be bound (code ``BIND_FAILED``).
        """
        try:
            self._server = make_server(self.host, self._requested_port, create_app(self.state), threaded=True,
                                       request_handler=_KisRequestHandler)
        except OSError as exc:
            raise BrokerUnavailable(f"cannot bind {self.host}:{self._requested_port}: {exc.strerror}", code="BIND_FAILED") from None
        self._server.kis_state = self.state  # type: ignore[attr-defined]  # read by _KisRequestHandler
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="jts-kis-emulator", daemon=True)
        self._thread.start()
        self.runner.start()
        return self

    def step(self, count: int = 1) -> bool:
        """Move the market clock through its next ``count`` events, matching working orders at
        each; False once the replay has ended."""
        return self.state.market.clock.step_events(count) == count

    def stop(self) -> None:
        """Stop serving (feed sessions end too). Idempotent."""
        self.runner.stop()
        self.state.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def wait(self) -> None:
        """Block until :meth:`stop` is called from another thread."""
        thread = self._thread
        if thread is not None:
            thread.join()

    def __enter__(self) -> KisEmulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
