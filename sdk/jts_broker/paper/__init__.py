"""Paper trading: a market replaying daily bars and a broker engine that fills orders against it.

Shared by the simulator (real KRX bars) and ``MockBrokerGateway`` (synthetic bars). Pure Python
over domain objects: no gRPC here.
"""
