"""The `huleedu` command: a client of the mesh's public gRPC APIs and JetStream streams."""
