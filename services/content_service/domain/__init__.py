"""The Content Service's domain: content addressing, limits and the store/fetch rules (no I/O)."""
