"""Datasets from the corpus: SFT examples and preference pairs for a recipe (`notme build`)."""

from notme.data.build import BuildReport, build_datasets
from notme.data.hedges import hedge, is_refusal

__all__ = ["BuildReport", "build_datasets", "hedge", "is_refusal"]
