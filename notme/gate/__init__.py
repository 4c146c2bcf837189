"""The safety and style gate."""
