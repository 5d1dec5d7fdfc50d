"""Adapters: the JetStream Object Store implementation of the content repository."""
