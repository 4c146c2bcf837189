"""Run records: what a training run leaves in adapters/<run>/, for every reader."""
