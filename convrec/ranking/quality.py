"""How well liked each item is, for requests such as "the best", "top rated" or "acclaimed", and
how widely known it is, for "hidden gems", "something lesser known" or "a well-known one".

The score is the item's mean rating shrunk toward the catalog's mean (the Bayesian average of the
IMDb top lists):

    quality = (n · mean + m · C) / (n + m)

with n the item's number of ratings, C the mean of all ratings, and m the median number of
ratings per rated item: an item needs about as many ratings as a typical one before its own mean
counts as much as the catalog's, so a film rated 5 by two people does not top the list. Only a
catalog whose interactions carry rating values (more than one distinct value) has a quality
score; for implicit feedback there is nothing to average.

How widely known an item is (`ItemRenown`) is the long-tail split of recommender research: the
*well known* are the most-interacted items that together hold half of all interactions (on
MovieLens 100K the 215 films that at least 145 of its 943 people rated), the *lesser known* are
all the others. It needs interactions, not rating values.

How much an item *is* of a genre (`FacetCompany`) is read from the company it keeps: the share of
its nearest neighbours by CF item factors that carry the genre. MovieLens tags Star Wars Action,
Adventure, Romance, Sci-Fi and War alike; its neighbours (The Empire Strikes Back, Raiders of the
Lost Ark, Star Trek) are mostly sci-fi and adventure, few romances, so for "a romance" While You
Were Sleeping comes before it, and for "a sci-fi movie" it stays first.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
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


@dataclass(frozen=True)
class ItemRenown:
    """Which items are well known: the most-interacted ones holding `HEAD_SHARE` of all
    interactions (the head of the long tail); every other item is lesser known."""

    well_known: frozenset[str]
    count: dict[str, int]  # interactions per item id
    min_count: int  # the fewest interactions a well-known item has
    people: int  # how many distinct people interacted, for the reply ("rated by 145 of 943 people")

    HEAD_SHARE = 0.5

    @classmethod
    def from_interactions(cls, interactions: Interactions | None) -> ItemRenown | None:
        """None when there are no interactions to count."""
        if interactions is None or len(interactions.frame) == 0:
            return None
        counts = interactions.frame.groupby("item").size().sort_values(ascending=False, kind="stable")
        share = counts.cumsum().to_numpy() / float(counts.sum())
        n_head = int(np.searchsorted(share, cls.HEAD_SHARE)) + 1  # the first item reaching the share is in
        head = counts.iloc[:n_head]
        return cls(frozenset(str(i) for i in head.index), {str(k): int(v) for k, v in counts.items()},
                   int(head.iloc[-1]), int(interactions.frame["user"].nunique()))

    def lesser_known(self, item_id: str) -> bool:
        return item_id not in self.well_known


@dataclass(frozen=True)
class FacetCompany:
    """Per item, the share of its `NEIGHBOURS` nearest items (cosine of CF item factors) that
    carry each value of a multi-valued facet; an item without factors gets the mean share.

    Tried and not kept: an item without factors counting its own tags (cold films of one genre
    then rose above the person's taste; the simulator's Hit@10 at the first turn fell from 0.58
    to 0.51 on seed 1), and neighbours by plain co-occurrence (popular films are everyone's
    neighbours there, and Star Wars stayed the second romance)."""

    values: tuple[str, ...]
    share: np.ndarray  # items × values
    position: dict[str, int]

    NEIGHBOURS = 30
    CELLS = 20_000_000  # item-item cosines held at once (a big catalog is done a block of rows at a time)

    @classmethod
    def from_factors(cls, item_ids: Sequence[str], unit_factors: np.ndarray, trained: np.ndarray,
                     values_of: Callable[[str], Sequence[str]]) -> FacetCompany | None:
        """None when too few items have factors to have neighbours."""
        trained = np.asarray(trained, bool)
        if int(trained.sum()) <= cls.NEIGHBOURS:
            return None
        values = tuple(sorted({v for i in item_ids for v in values_of(i)}))
        column = {v: k for k, v in enumerate(values)}
        tags = np.zeros((len(item_ids), len(values)), np.float32)
        for j, item_id in enumerate(item_ids):
            for v in values_of(item_id):
                tags[j, column[v]] = 1.0
        share = np.zeros_like(tags)
        units = np.asarray(unit_factors, np.float32)
        rows = np.flatnonzero(trained)
        step = max(1, cls.CELLS // max(1, len(item_ids)))
        for start in range(0, len(rows), step):
            block = rows[start:start + step]
            sim = units[block] @ units.T
            sim[:, ~trained] = -np.inf
            sim[np.arange(len(block)), block] = -np.inf  # not its own neighbour
            near = np.argpartition(-sim, cls.NEIGHBOURS, axis=1)[:, : cls.NEIGHBOURS]
            share[block] = tags[near].mean(axis=1)
        share[~trained] = share[trained].mean(axis=0)  # no company known: a typical item's, neither up nor down
        return cls(values, share, {str(i): j for j, i in enumerate(item_ids)})

    def of(self, item_id: str, wanted: Collection[str], every: bool = False) -> float:
        """How much the item is of the wanted values (see `scorer`)."""
        return self.scorer(wanted, every)(item_id)

    def scorer(self, wanted: Collection[str], every: bool = False) -> Callable[[str], float]:
        """Item id -> how much it is of the wanted values: the best share among them (any of them
        asked), or their mean (all asked: "a romantic comedy"); 0 for an unknown item. The columns
        are found once, for all the candidates of a turn."""
        cols = [k for k, v in enumerate(self.values) if v in wanted]

        def score(item_id: str) -> float:
            j = self.position.get(str(item_id))
            if j is None or not cols:
                return 0.0
            picked = self.share[j, cols]
            return float(picked.mean() if every else picked.max())

        return score
