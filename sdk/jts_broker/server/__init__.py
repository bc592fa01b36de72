"""The gateway server: the jts.broker.v1 contract over gRPC, in front of any blocking broker
backend (:class:`GatewayServer`): the paper-trading simulator replaying real KRX prices
(:class:`SimulatorServer`, bundled data or any folder of daily CSVs), or ``KisRestGateway``.

Start it with ``jts-broker serve`` or in-process::

    with SimulatorServer() as server:          # free loopback port
        gateway = GrpcBrokerGateway(BrokerConfig.from_target(server.target))
"""

from .gateway_server import GatewayServer
from .simulator import SimulatorServer

__all__ = ["GatewayServer", "SimulatorServer"]
