"""notme: turn your own chat history into a local model that writes like you."""

__version__ = "0.1.0"
