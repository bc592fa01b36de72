"""The client: ``GrpcBrokerGateway`` and ``AsyncGrpcBrokerGateway`` with their clients and
connections (generated from one template each, in ``_generated/``), request building, the
offline cache, the order journal, the registry and the config file. It stands on the contract
and the domain; nothing below imports it.
"""
