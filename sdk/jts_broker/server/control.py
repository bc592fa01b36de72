"""The ``SimulatorControl`` servicer: a simulator's market clock and accounts, driven over gRPC
(``serve --control``)."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from jts_broker.contract._generated import mappers as m
from jts_broker.contract._generated.pb import simulator_pb2, simulator_pb2_grpc
from jts_broker.domain.errors import InvalidRequest
from jts_broker.paper.clock import ClockRunner

from .services import translating

SERVICE_NAME = simulator_pb2.DESCRIPTOR.services_by_name["SimulatorControlService"].full_name


class ControlService(simulator_pb2_grpc.SimulatorControlServiceServicer):
    """Clock reads and moves go to ``runner``; ``reset_accounts`` empties the paper accounts."""

    name = SERVICE_NAME

    def __init__(self, runner: ClockRunner, reset_accounts: Callable[[], None]) -> None:
        self._runner = runner
        self._reset_accounts = reset_accounts

    def add_to(self, server: grpc.Server) -> None:
        simulator_pb2_grpc.add_SimulatorControlServiceServicer_to_server(self, server)  # type: ignore[no-untyped-call]  # protoc's glue

    def _state(self) -> simulator_pb2.ClockState:
        return m.clock_state_to_proto(self._runner.state())

    @translating
    def GetClock(self, request: simulator_pb2.GetClockRequest, context: grpc.ServicerContext) -> simulator_pb2.ClockState:
        return self._state()

    @translating
    def Pause(self, request: simulator_pb2.PauseRequest, context: grpc.ServicerContext) -> simulator_pb2.ClockState:
        self._runner.pause()
        return self._state()

    @translating
    def Resume(self, request: simulator_pb2.ResumeRequest, context: grpc.ServicerContext) -> simulator_pb2.ClockState:
        self._runner.resume()
        return self._state()

    @translating
    def SetSpeed(self, request: simulator_pb2.SetSpeedRequest, context: grpc.ServicerContext) -> simulator_pb2.ClockState:
        self._runner.set_speed(request.speed)
        return self._state()

    @translating
    def Advance(self, request: simulator_pb2.AdvanceRequest, context: grpc.ServicerContext) -> simulator_pb2.ClockState:
        target = request.WhichOneof("target")
        if target == "to":
            self._runner.clock.advance_to(m.timestamp_from_proto(request.to, "AdvanceRequest.to"))
        elif target == "steps" and request.steps >= 1:
            self._runner.clock.step_events(request.steps)
        else:
            raise InvalidRequest("advance needs a time (to) or a number of steps >= 1", code="INVALID_ADVANCE")
        return self._state()

    @translating
    def ResetAccounts(self, request: simulator_pb2.ResetAccountsRequest, context: grpc.ServicerContext) -> simulator_pb2.ClockState:
        self._reset_accounts()
        return self._state()
