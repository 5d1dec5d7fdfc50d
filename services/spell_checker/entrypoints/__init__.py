"""Event handlers that translate protobuf messages to domain calls."""
