"""The personal corpus: one JSONL file of conversations per corpus, written atomically."""
