"""convrec: a locally hosted conversational recommender."""

__version__ = "0.1.0"
