"""The paper-trading simulator: a gRPC server speaking the jts.broker.v1 contract, replaying
real KRX prices (bundled data or any folder of daily CSVs) with a paper-trading engine.

Start it with ``jts-broker serve`` or in-process::

    with SimulatorServer() as server:          # free loopback port
        gateway = GrpcBrokerGateway(BrokerConfig.from_target(server.target))
"""

from .simulator import SimulatorServer

__all__ = ["SimulatorServer"]
