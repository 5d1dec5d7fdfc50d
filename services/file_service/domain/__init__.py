"""The File Service's domain: format detection, text extraction, validation and the upload rules.
No I/O here; what the domain needs from outside is a Protocol in `ports`."""
