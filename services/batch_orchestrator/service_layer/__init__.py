"""BOS use cases: registration, event handling and queries, over the domain ports."""
