"""``KisQuoteStream``: quotes over KIS's real-time WebSocket feed.

Protocol (KIS's samples): an approval key from ``POST /oauth2/Approval``; one JSON message per
subscription (``tr_type`` "1" subscribe, "2" unsubscribe) of ``H0STCNT0`` (trades) and
``H0STASP0`` (best bid and ask) per symbol, at most 40 a session (so 20 symbols a stream); data
frames ``0|TR_ID|COUNT|f1^f2^...`` read by position; ``PINGPONG`` messages echoed back.

The stream starts with each symbol's current quote (REST, which also gives the day's price limits
and previous close), then yields the quote as each trade or order-book change moves it. When the
connection breaks it connects and subscribes again by itself (unless ``resubscribe`` is off: then
``BrokerUnavailable``), yielding a :class:`~jts_broker.domain.market_data.QuoteGap` and the current
quotes, as the gRPC stream does.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import websocket

from jts_broker.domain.config import Secret
from jts_broker.domain.errors import AuthenticationFailed, BrokerUnavailable, InvalidRequest, JtsBrokerError, ServerError
from jts_broker.domain.gateway import QuoteStream
from jts_broker.domain.market_data import Quote, QuoteGap
from jts_broker.domain.timeutil import now_kst

from . import parse
from .config import KisConfig

log = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 40
"""KIS's limit of real-time subscriptions per WebSocket session."""
FEEDS = ("H0STCNT0", "H0STASP0")
_POLL_S = 0.25  # how often a waiting read looks at close()


def subscription(approval_key: Secret, tr_id: str, code: str, subscribe: bool = True) -> str:
    return json.dumps({"header": {"approval_key": approval_key.reveal(), "custtype": "P", "tr_type": "1" if subscribe else "2",
                                  "content-type": "utf-8"}, "body": {"input": {"tr_id": tr_id, "tr_key": code}}})


class KisQuoteStream(QuoteStream):
    """See the module. ``quote`` reads one symbol's current quote over REST; ``approval_key``
    issues a WebSocket approval key."""

    def __init__(self, config: KisConfig, codes: list[str], quote: Callable[[str], Quote], approval_key: Callable[[], Secret], *,
                 resubscribe: bool = True) -> None:
        if len(codes) * len(FEEDS) > MAX_SUBSCRIPTIONS:
            raise InvalidRequest(f"KIS streams at most {MAX_SUBSCRIPTIONS // len(FEEDS)} symbols a session ({MAX_SUBSCRIPTIONS} subscriptions), "
                                 f"{len(codes)} asked", code="TOO_MANY_SYMBOLS")
        self._config, self._codes, self._quote, self._approval_key = config, codes, quote, approval_key
        self._resubscribe = resubscribe
        self._closed = threading.Event()
        self._lock = threading.Lock()  # guards _ws against close() from another thread
        self._ws: websocket.WebSocket | None = None
        self._quotes = {code: quote(code) for code in codes}
        self._pending: deque[Quote | QuoteGap] = deque(self._quotes.values())
        self._last_message = now_kst()
        self._connect()

    def _connect(self) -> None:
        key = self._approval_key()
        try:
            ws = websocket.create_connection(self._config.websocket_url, timeout=self._config.timeouts.connect_s)
            for code in self._codes:
                for tr_id in FEEDS:
                    ws.send(subscription(key, tr_id, code))
            ws.settimeout(_POLL_S)
        except (websocket.WebSocketException, OSError) as exc:
            raise BrokerUnavailable(f"KIS feed {self._config.websocket_url}: cannot connect ({type(exc).__name__})", code="CONNECT_FAILED") from None
        with self._lock:
            closed, old = self._closed.is_set(), self._ws
            if not closed:
                self._ws = ws
        for stale in (ws if closed else None, old):  # closed meanwhile: the new session goes too
            _close(stale)

    def __next__(self) -> Quote | QuoteGap:
        while not self._pending:
            ws = self._ws
            if self._closed.is_set() or ws is None:
                raise StopIteration
            try:
                message = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError) as exc:
                if self._closed.is_set():
                    raise StopIteration from None
                self._broken(exc)
                continue
            if not message:  # websocket-client answers a close frame with an empty message
                if self._closed.is_set():
                    raise StopIteration
                self._broken(ConnectionError("the feed closed the session"))
                continue
            self._handle(message if isinstance(message, str) else message.decode("utf-8"))
        return self._pending.popleft()

    def _handle(self, message: str) -> None:
        self._last_message = now_kst()
        if message[:1] == "0":
            tr_id, records = parse.feed_records(message)
            for record in records:
                code = record.text("MKSC_SHRN_ISCD")
                old = self._quotes.get(code)
                if old is None:
                    continue
                new = parse.trade_update(old, record) if tr_id == "H0STCNT0" else parse.book_update(old, record)
                if new != old:
                    self._quotes[code] = new
                    self._pending.append(new)
            return
        if message[:1] == "1":  # encrypted (AES): only the order-notice feeds, which this stream never asks for
            log.warning("KIS feed: an encrypted frame was ignored")
            return
        self._control(message)

    def _control(self, message: str) -> None:
        try:
            data: Any = json.loads(message)
            header = data["header"]
        except (ValueError, KeyError, TypeError):
            raise ServerError(f"KIS feed: unreadable message {message[:60]!r}", code="MALFORMED_RESPONSE") from None
        if header.get("tr_id") == "PINGPONG":
            ws = self._ws
            if ws is not None:
                try:
                    ws.send(message)  # KIS closes a session that does not echo its pings
                except (websocket.WebSocketException, OSError):
                    pass  # the next read sees the break
            return
        body = data.get("body") or {}
        if body.get("rt_cd", "0") != "0":
            code, words = str(body.get("msg_cd", "")), " ".join(str(body.get("msg1", "")).split())
            error_type = AuthenticationFailed if "APPROVAL" in words.upper() or "KEY" in words.upper() else ServerError
            raise error_type(f"KIS feed refused {header.get('tr_id')} {header.get('tr_key')}: {code} {words}", code="FEED_REFUSED",
                             broker_code=code, broker_message=words)

    def _broken(self, exc: BaseException) -> None:
        if not self._resubscribe:
            self.close()
            raise BrokerUnavailable(f"KIS feed broke: {type(exc).__name__}", code="STREAM_BROKEN") from None
        with self._lock:
            broken, self._ws = self._ws, None
        _close(broken)
        start, reason = self._last_message, f"KIS feed broke ({type(exc).__name__})"
        delay = self._config.retry.initial_backoff_s
        while not self._closed.is_set():
            try:
                self._connect()
                quotes = {code: self._quote(code) for code in self._codes}
                break
            except JtsBrokerError as error:
                log.warning("KIS feed: reconnecting failed (%s); next try in %.2f s", error, delay)
                self._closed.wait(delay)
                delay = min(delay * 2, self._config.retry.max_backoff_s)
        else:
            return
        self._quotes = quotes
        self._pending.append(QuoteGap(start, now_kst(), tuple(self._codes), reason))
        self._pending.extend(quotes.values())

    def close(self) -> None:
        """End the subscription (closing the session ends its subscriptions). Idempotent; any thread."""
        with self._lock:
            self._closed.set()
            ws, self._ws = self._ws, None
        _close(ws)


def _close(ws: websocket.WebSocket | None) -> None:
    if ws is not None:
        try:
            ws.close(timeout=1)
        except (websocket.WebSocketException, OSError):
            pass


