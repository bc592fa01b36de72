"""The contract: the jts.broker.v1 messages generated from ``protos/`` (upb ``_pb2`` modules; the
betterproto2 dataclass messages with the extra ``jts-broker[betterproto]``), the generated
proto <-> domain mappers, and the one status <-> error table. Imported by clients and servers
alike; it imports nothing of either.
"""
