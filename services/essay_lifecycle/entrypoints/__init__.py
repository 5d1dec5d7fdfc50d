"""Entry points: event handlers and the gRPC servicer, translating protobuf to domain calls."""
