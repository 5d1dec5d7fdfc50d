"""Entrypoints: the gRPC servicer and the event handlers, translating protobuf to domain calls."""
