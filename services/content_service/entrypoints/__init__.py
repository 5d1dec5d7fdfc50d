"""Entrypoints: the gRPC servicer of huleedu.content.v1.ContentService."""
