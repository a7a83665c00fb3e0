"""How well liked each item is, for requests such as "the best", "top rated" or "acclaimed".

The score is the item's mean rating shrunk toward the catalog's mean (the Bayesian average of the
IMDb top lists):

    quality = (n · mean + m · C) / (n + m)

with n the item's number of ratings, C the mean of all ratings, and m the median number of
ratings per rated item: an item needs about as many ratings as a typical one before its own mean
counts as much as the catalog's, so a film rated 5 by two people does not top the list. Only a
catalog whose interactions carry rating values (more than one distinct value) has a quality
score; for implicit feedback there is nothing to average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convrec.retrieval.catalog import Interactions


@dataclass(frozen=True)
class ItemQuality:
    """Per item id: the mean rating, the number of ratings and the shrunk score."""

    mean: dict[str, float]
    count: dict[str, int]
    score: dict[str, float]
    prior_mean: float
    prior_strength: float

    @classmethod
    def from_interactions(cls, interactions: Interactions | None) -> ItemQuality | None:
        """None when there are no rating values to average."""
        if interactions is None or len(interactions.frame) == 0:
            return None
        frame = interactions.frame[["item", "value"]].dropna()
        if frame.empty or frame["value"].nunique() < 2:
            return None
        stats = frame.groupby("item")["value"].agg(["mean", "count"])
        prior_mean = float(frame["value"].mean())
        m = float(np.median(stats["count"]))
        shrunk = (stats["count"] * stats["mean"] + m * prior_mean) / (stats["count"] + m)
        return cls(
            mean={str(k): float(v) for k, v in stats["mean"].items()},
            count={str(k): int(v) for k, v in stats["count"].items()},
            score={str(k): float(v) for k, v in shrunk.items()},
            prior_mean=prior_mean,
            prior_strength=m,
        )

    def of(self, item_id: str) -> float:
        """The shrunk score; an item nobody rated gets the catalog's mean."""
        return self.score.get(item_id, self.prior_mean)

    def evidence(self, item_id: str) -> dict[str, float | int | str] | None:
        if item_id not in self.count:
            return None
        return {"kind": "rated", "mean": round(self.mean[item_id], 2), "ratings": self.count[item_id]}
