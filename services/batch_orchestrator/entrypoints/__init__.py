"""BOS entrypoints: the gRPC servicer and the event handlers; they translate protobuf to calls."""
