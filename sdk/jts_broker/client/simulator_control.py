"""``SimulatorControl``: drive a paper-market simulator's clock and accounts from tests and
backtests (the server runs with ``jts-broker serve --control``)."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from jts_broker.client._generated.clients import CallPolicy, SimulatorControlServiceClient
from jts_broker.contract._generated import mappers as m
from jts_broker.contract._generated.pb import simulator_pb2
from jts_broker.domain.config import BrokerConfig, TlsConfig
from jts_broker.domain.enums import BrokerType
from jts_broker.domain.policies import RetryPolicy, Timeouts
from jts_broker.domain.simulation import ClockState
from jts_broker.domain.timeutil import as_instant
from jts_broker.policies.rate_limiter import RateLimiter

from .channel import call_metadata, open_channel


class SimulatorControl:
    """A client of the simulator's ``SimulatorControl`` service. Thread-safe. Every method returns
    the :class:`~jts_broker.domain.simulation.ClockState` after the call.

    Args:
        target: ``host:port`` of a simulator served with ``--control``.
        token: the server's bearer token, when it has one.
        tls: TLS settings, as a gateway's.
        timeout_s: deadline of each call, seconds (an advance through many days takes a while).

    Raises (from every method):
        BrokerUnavailable: the simulator cannot be reached.
        ServerError: the simulator runs without ``--control`` (its status UNIMPLEMENTED).
        InvalidRequest: a bad speed, a naive time or one before the clock, steps < 1.
        AuthenticationError: a missing or wrong token.
    """

    def __init__(self, target: str, *, token: str | None = None, tls: TlsConfig | None = None, timeout_s: float = 120.0) -> None:
        config = BrokerConfig.from_target(target, broker_type=BrokerType.MOCK, token=token, tls=tls)
        self._channel = open_channel(config)
        self._limiter = RateLimiter(config.rate_limit_policy)
        policy = CallPolicy(self._limiter, Timeouts(read_s=timeout_s, order_s=timeout_s), RetryPolicy(), call_metadata(config))
        self._client = SimulatorControlServiceClient(self._channel, policy)

    def clock(self) -> ClockState:
        """Where the clock stands."""
        return m.clock_state_from_proto(self._client.get_clock(simulator_pb2.GetClockRequest()))

    def pause(self) -> ClockState:
        """Stop the clock running with real time (it still moves on :meth:`advance`)."""
        return m.clock_state_from_proto(self._client.pause(simulator_pb2.PauseRequest()))

    def resume(self) -> ClockState:
        """Run the clock with real time again, at its speed."""
        return m.clock_state_from_proto(self._client.resume(simulator_pb2.ResumeRequest()))

    def set_speed(self, speed: float) -> ClockState:
        """Market seconds per real second, > 0 (1 is real time)."""
        return m.clock_state_from_proto(self._client.set_speed(simulator_pb2.SetSpeedRequest(speed=speed)))

    def advance(self, *, to: datetime | None = None, steps: int | None = None) -> ClockState:
        """Move the clock to ``to`` (tz-aware; a naive time is refused) or through ``steps`` events
        (prices and session boundaries), matching orders on the way; give exactly one."""
        if (to is None) == (steps is None):
            raise TypeError("advance() takes exactly one of to= and steps=")
        request = (simulator_pb2.AdvanceRequest(to=m.timestamp_to_proto(as_instant(to, name="to"))) if to is not None
                   else simulator_pb2.AdvanceRequest(steps=steps))
        return m.clock_state_from_proto(self._client.advance(request))

    def reset_accounts(self) -> ClockState:
        """Every paper account back to its initial cash, with no positions and no orders."""
        return m.clock_state_from_proto(self._client.reset_accounts(simulator_pb2.ResetAccountsRequest()))

    def close(self) -> None:
        self._channel.close()
        self._limiter.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
