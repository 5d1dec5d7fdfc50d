"""Batch Orchestrator Service (BOS): registers batches, drives their phases, reports their state."""
