"""The Essay Lifecycle domain: pure functions over the BatchTracker document, no I/O."""
