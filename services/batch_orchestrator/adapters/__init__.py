"""BOS adapters: the KV repository and the event publisher over NATS JetStream."""
