"""Local process management for development, tests and benchmarks: nats-server and services."""
