"""Ingesters: one module per chat-export source, found by `registry`, run by `pipeline`."""
