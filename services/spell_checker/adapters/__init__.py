"""What the Spell Checker needs from outside: dictionaries, the index cache, the worker pool."""
