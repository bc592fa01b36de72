"""gRPC plumbing shared by the clients, the gateways and the simulator. Private."""
