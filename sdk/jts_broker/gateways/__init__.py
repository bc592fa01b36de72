"""Gateway implementations of ``IBrokerGateway``: over gRPC, and in memory."""
