"""Shared runtime of every HuleEdu service: settings, logging, NATS JetStream and gRPC plumbing."""
