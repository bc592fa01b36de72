"""The gateway interface every broker connection implements, blocking and async.

Shapes and units shared by all methods: symbols are 6-character KRX codes (``"A005930"`` and
ISINs are accepted and normalized); prices are KRW ``Decimal``; times are tz-aware in
Asia/Seoul; lists are ordered as each method says. ``account_id=None`` means the first
configured account, or the server's first account when none is configured.

Offline: a gateway with an offline cache (``config.offline_cache``) answers the reads (accounts,
symbols, candles, quotes, balance, positions) from the cache while its server cannot be reached;
the result says so: lists are :class:`~jts_broker.domain.provenance.ResultList` and ``Quote`` and
``Balance`` carry the same ``source`` (LIVE or CACHE), ``cached_at`` and ``age_s``. With nothing
cached the read raises ``BrokerUnavailable``. Orders are never served from the cache.

Errors (all from :mod:`jts_broker.domain.errors`): ``InvalidRequest`` before any network call for
bad arguments; ``NotFound`` subclasses for unknown symbols, accounts and orders;
``OrderRejected`` when the broker refuses an order; ``BrokerUnavailable`` when the server cannot
be reached; ``RateLimitExceeded``, ``AuthenticationFailed``, ``ServerError`` as named. A failure is
never returned as an empty result.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Self

from .candle_columns import CandleColumns, need
from .config import BrokerConfig
from .connection import ConnectionStatusChange, StatusListener
from .enums import ConnectionStatus, Market, Timeframe
from .market_data import Candle, Quote, QuoteGap, Symbol
from .provenance import ResultList
from .rate_limits import IRateLimiter
from .symbols import normalize_symbol
from .trading import Account, Balance, JournalEntry, Order, OrderRequest, OrderResult, Position
from .validation import DateLike

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AsyncQuoteStream", "DateLike", "IAsyncBrokerGateway", "IBrokerGateway", "QuoteStream"]


class QuoteStream(abc.ABC, Iterator[Quote | QuoteGap]):
    """An open quote subscription: iterate it for quotes; ``close()`` (or ``with``) ends it.

    When the connection breaks, the stream subscribes again by itself once the server is back
    and yields a :class:`~jts_broker.domain.market_data.QuoteGap` naming the span in which quotes
    may have been missed, then the current quote of every symbol."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the subscription; iteration then ends. Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class IBrokerGateway(abc.ABC):
    """A blocking connection to one broker. Thread-safe: methods may be called from any thread.

    Use as a context manager (``with gateway:``) to connect and disconnect.
    """

    config: BrokerConfig

    @property
    @abc.abstractmethod
    def status(self) -> ConnectionStatus:
        """The connection state (see :mod:`jts_broker.domain.connection` for its transitions)."""

    @abc.abstractmethod
    def subscribe_status(self, listener: StatusListener) -> Callable[[], None]:
        """Call ``listener(ConnectionStatusChange)`` on every status change from now on, in order,
        on the gateway's status thread (``jts-status``): the change never waits for a listener,
        but a slow one delays the calls after it (hand long work to your own thread or a Qt
        signal). Returns a function that unsubscribes. Thread-safe."""

    @abc.abstractmethod
    def check_health(self) -> float:
        """A health check of the server now (connecting first if needed); the round trip in
        seconds.

        Raises:
            BrokerUnavailable: the server cannot be reached or is not serving.
        """

    @property
    @abc.abstractmethod
    def rate_limiter(self) -> IRateLimiter:
        """The budget every call to the broker draws from (see ``RateLimiter.usage()``)."""

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the connection; returns once the server answers.

        Raises:
            BrokerUnavailable: not reachable within ``config.timeouts.connect_s`` seconds.
        """

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Close the connection and release its threads. Idempotent."""

    def close(self) -> None:
        """Disconnect and release everything the gateway holds (e.g. the rate limiter's thread);
        the gateway cannot be used again. Idempotent."""
        self.disconnect()

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.disconnect()

    @abc.abstractmethod
    def get_accounts(self) -> ResultList[Account]:
        """The accounts the gateway trades, ordered by account id."""

    @abc.abstractmethod
    def get_symbols(self, query: str = "", market: Market | None = None) -> ResultList[Symbol]:
        """The symbol master filtered by ``query`` (case-insensitive substring of code or name)
        and ``market``, ordered by code. An empty list means nothing matched."""

    @abc.abstractmethod
    def get_symbol(self, code: str) -> Symbol:
        """One symbol. Raises ``SymbolNotFound`` when it is not listed."""

    @abc.abstractmethod
    def get_candles(self, symbol: str, timeframe: Timeframe, start: DateLike, end: DateLike) -> ResultList[Candle]:
        """Candles of ``symbol`` from ``start`` to ``end``, oldest first.

        A ``date`` bound means the whole trading day in Asia/Seoul, both ends included; a
        ``datetime`` must be tz-aware and ``end`` is then exclusive. An empty list means the
        symbol did not trade in the range.

        Raises:
            InvalidRequest: naive datetimes, ``end`` before ``start``, a bad symbol.
            SymbolNotFound: the symbol is not listed.
        """

    def get_candle_columns(self, symbol: str, timeframe: Timeframe, start: DateLike, end: DateLike) -> CandleColumns:
        """The candles of ``get_candles`` as numpy arrays (extra ``jts-broker[pandas]``): times as
        ``datetime64[s]`` (UTC), prices as exact ``int64`` in units of ``10**-price_scale`` KRW
        (whole won on KRX), volumes as ``int64``; see :class:`CandleColumns`. The gRPC gateways
        read them from the wire's packed columns, with no Python object per candle.

        Raises:
            ConfigurationError: numpy is not installed (``MISSING_DEPENDENCY``), before any call.
            InvalidRequest, SymbolNotFound, BrokerUnavailable: as ``get_candles``.
        """
        need("numpy")
        return CandleColumns.from_candles(normalize_symbol(symbol), timeframe, self.get_candles(symbol, timeframe, start, end))

    def get_candles_frame(self, symbol: str, timeframe: Timeframe, start: DateLike, end: DateLike) -> pd.DataFrame:
        """The candles of ``get_candles`` as a pandas DataFrame (extra ``jts-broker[pandas]``):
        indexed by ``time`` (tz-aware, Asia/Seoul), oldest first, with ``int64`` columns
        ``open``, ``high``, ``low``, ``close`` (whole KRW on KRX; see ``frame.attrs["price_scale"]``)
        and ``volume``. See :meth:`CandleColumns.to_frame`.

        Raises:
            ConfigurationError: pandas is not installed (``MISSING_DEPENDENCY``), before any call.
            InvalidRequest, SymbolNotFound, BrokerUnavailable: as ``get_candles``.
        """
        need("pandas")
        return self.get_candle_columns(symbol, timeframe, start, end).to_frame()

    @abc.abstractmethod
    def get_candles_many(self, symbols: Iterable[str], timeframe: Timeframe, start: DateLike, end: DateLike) -> dict[str, list[Candle]]:
        """``get_candles`` for several symbols at once, inside the rate budget; keyed by the
        normalized code, in the order given. The first failure is raised."""

    @abc.abstractmethod
    def get_quote(self, symbol: str) -> Quote:
        """The latest quote of ``symbol``."""

    @abc.abstractmethod
    def stream_quotes(self, symbols: Iterable[str], *, resubscribe: bool = True) -> QuoteStream:
        """Subscribe to quotes: first the current quote of each symbol, then each change.

        With ``resubscribe`` (the default) a broken stream subscribes again by itself when the
        server is back, yielding a ``QuoteGap`` first; without it the break is raised
        (``BrokerUnavailable``). Iteration ends when the stream is closed."""

    @abc.abstractmethod
    def get_balance(self, account_id: str | None = None) -> Balance:
        """Cash and valuation of an account."""

    @abc.abstractmethod
    def get_positions(self, account_id: str | None = None) -> ResultList[Position]:
        """Open positions of an account, ordered by symbol."""

    @abc.abstractmethod
    def place_order(self, order: OrderRequest) -> OrderResult:
        """Place an order exactly once.

        The order is validated first (``InvalidRequest``, nothing sent) and carries a client
        order id (chosen by the SDK when empty) on which the broker deduplicates. With an order
        journal (``config.order_journal``, on by default) it is written down before it is sent
        and marked with the answer (see :meth:`unresolved_orders`); the journal's writes take
        about a tenth of a millisecond, on the calling thread (the event loop's, in the asyncio
        twin).

        When the call breaks after the order may have reached the broker (connection lost,
        deadline passed), the gateway looks the order up by its client order id and sends it
        again, with the same id, only if the broker does not have it. While the gateway knows the
        server is down (``status`` is not CONNECTED) nothing is sent.

        Raises:
            OrderRejected: the broker refused it (tick size, price limit, buying power ...).
            BrokerUnavailable: the server is known to be down (code ``NOT_CONNECTED``) or cannot
                be reached (``CONNECT_TIMEOUT``): the order was not sent.
            OrderStatusUnknown: the order may have been placed and the broker could not be asked
                (``RetryPolicy.budget_s``): look it up with :meth:`get_order_by_client_id`.
            DuplicateClientOrderId: the client order id already names another order (at the
                broker, or in the order journal: then nothing was sent).
            ConfigurationError: the order journal cannot be written (code ``JOURNAL_WRITE``):
                nothing was sent.

        An interrupt (``KeyboardInterrupt``, ``CancelledError``) is raised as it is, with a note
        naming the client order id: the order may have been placed, and the journal keeps it
        open until :meth:`reconcile_orders` settles it.
        """

    @abc.abstractmethod
    def cancel_order(self, order_id: str) -> Order:
        """Cancel the unfilled rest of a working order; returns the order as cancelled.

        When the call breaks after the cancel may have reached the broker, the gateway asks for
        the order before sending the cancel again (a cancel that did work is not reported as a
        failure).

        Raises ``OrderRejected`` (code ``ORDER_NOT_CANCELLABLE``) for a final order,
        ``OrderNotFound`` for an unknown id, and ``BrokerUnavailable`` when the outcome could not
        be learned within ``RetryPolicy.budget_s`` (check ``get_order_status``)."""

    @abc.abstractmethod
    def get_order_status(self, order_id: str) -> Order:
        """One order by its broker order id."""

    @abc.abstractmethod
    def get_order_by_client_id(self, client_order_id: str, account_id: str | None = None) -> Order:
        """One order by the client order id it was placed with. Raises ``OrderNotFound``."""

    @abc.abstractmethod
    def list_orders(self, account_id: str | None = None) -> list[Order]:
        """An account's orders of the current trading day, oldest first."""

    @abc.abstractmethod
    def unresolved_orders(self) -> list[JournalEntry]:
        """The orders of the order journal (``config.order_journal``) whose outcome is not known:
        sent without an answer, by this process or by one that ended; oldest first. Local: no
        network call. [] without a journal."""

    @abc.abstractmethod
    def reconcile_orders(self) -> list[JournalEntry]:
        """Settle the journal's unresolved orders that no live call is settling, by asking the
        broker for each by its client order id (``connect()`` does this once); what is still
        unresolved, oldest first.

        Raises:
            BrokerUnavailable: the broker could not be asked.
        """


class AsyncQuoteStream(abc.ABC, AsyncIterator[Quote | QuoteGap]):
    """An open quote subscription for asyncio: ``async for`` it; ``aclose()`` ends it. Breaks are
    handled as :class:`QuoteStream` says."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Stop the subscription. Idempotent."""


class IAsyncBrokerGateway(abc.ABC):
    """The asyncio twin of :class:`IBrokerGateway`: the same methods, as coroutines, with the
    same shapes, units and errors. Use ``async with gateway:``."""

    config: BrokerConfig

    @property
    @abc.abstractmethod
    def status(self) -> ConnectionStatus: ...

    @abc.abstractmethod
    def subscribe_status(self, listener: StatusListener) -> Callable[[], None]: ...

    @abc.abstractmethod
    def status_changes(self) -> AsyncIterator[ConnectionStatusChange]:
        """Every status change from now on, for ``async for``."""

    @abc.abstractmethod
    async def check_health(self) -> float: ...

    @property
    @abc.abstractmethod
    def rate_limiter(self) -> IRateLimiter: ...

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def disconnect(self) -> None: ...

    async def close(self) -> None:
        """Disconnect and release everything the gateway holds; it cannot be used again."""
        await self.disconnect()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.disconnect()

    @abc.abstractmethod
    async def get_accounts(self) -> ResultList[Account]: ...

    @abc.abstractmethod
    async def get_symbols(self, query: str = "", market: Market | None = None) -> ResultList[Symbol]: ...

    @abc.abstractmethod
    async def get_symbol(self, code: str) -> Symbol: ...

    @abc.abstractmethod
    async def get_candles(self, symbol: str, timeframe: Timeframe, start: DateLike, end: DateLike) -> ResultList[Candle]: ...

    async def get_candle_columns(self, symbol: str, timeframe: Timeframe, start: DateLike, end: DateLike) -> CandleColumns:
        """As :meth:`IBrokerGateway.get_candle_columns`."""
        need("numpy")
        return CandleColumns.from_candles(normalize_symbol(symbol), timeframe, await self.get_candles(symbol, timeframe, start, end))

    async def get_candles_frame(self, symbol: str, timeframe: Timeframe, start: DateLike, end: DateLike) -> pd.DataFrame:
        """As :meth:`IBrokerGateway.get_candles_frame`."""
        need("pandas")
        return (await self.get_candle_columns(symbol, timeframe, start, end)).to_frame()

    @abc.abstractmethod
    async def get_candles_many(self, symbols: Iterable[str], timeframe: Timeframe, start: DateLike, end: DateLike) -> dict[str, list[Candle]]: ...

    @abc.abstractmethod
    async def get_quote(self, symbol: str) -> Quote: ...

    @abc.abstractmethod
    def stream_quotes(self, symbols: Iterable[str], *, resubscribe: bool = True) -> AsyncQuoteStream: ...

    @abc.abstractmethod
    async def get_balance(self, account_id: str | None = None) -> Balance: ...

    @abc.abstractmethod
    async def get_positions(self, account_id: str | None = None) -> ResultList[Position]: ...

    @abc.abstractmethod
    async def place_order(self, order: OrderRequest) -> OrderResult: ...

    @abc.abstractmethod
    async def cancel_order(self, order_id: str) -> Order: ...

    @abc.abstractmethod
    async def get_order_status(self, order_id: str) -> Order: ...

    @abc.abstractmethod
    async def get_order_by_client_id(self, client_order_id: str, account_id: str | None = None) -> Order: ...

    @abc.abstractmethod
    async def list_orders(self, account_id: str | None = None) -> list[Order]: ...

    @abc.abstractmethod
    def unresolved_orders(self) -> list[JournalEntry]: ...

    @abc.abstractmethod
    async def reconcile_orders(self) -> list[JournalEntry]: ...
