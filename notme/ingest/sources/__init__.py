"""One module per chat-export source; each defines an `Ingester` subclass (see ../base.py)."""
