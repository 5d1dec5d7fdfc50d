"""Content Service: stores and serves bytes by the SHA-256 of their content, in the JetStream
Object Store bucket `content`. `python -m services.content_service` runs it."""
