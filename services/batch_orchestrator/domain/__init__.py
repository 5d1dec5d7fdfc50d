"""BOS domain: the batch state machine and request validation, with no I/O."""
