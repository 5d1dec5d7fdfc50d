"""Adapters: the JetStream KV repositories and the JetStream deadline scheduler."""
