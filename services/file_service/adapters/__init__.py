"""Adapters: NATS, KV, Content Service and process-pool implementations of the ports."""
