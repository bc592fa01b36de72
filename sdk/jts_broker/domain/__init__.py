"""The domain: entities, enums, configuration, errors, KRX rules and the gateway interface.

Nothing here imports grpc or generated messages; everything above depends on it.
"""
