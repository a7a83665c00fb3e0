"""What a person usually picks, for "something different from what I usually watch".

`Habits.of(known, catalog, index)` reads the person's history (the catalog's interactions and what
they liked in chat): how often each value of the catalog's multi-valued facet (a film's genres)
occurs in it, or, in a catalog without one, the mean of its items' embeddings. `usualness(item)` is
how close an item is to that (the mean share of the person's history holding each of its values,
or the cosine to the mean embedding); the turn leans away from it (`Agent._leaning`).
`evidence(item)` names the item's value the person picks least, for its reason ("none of the 212
you've rated or liked are Film-Noir").

A history shorter than `MIN_HISTORY` says nothing about habits: `of` gives None and the turn says
it cannot tell what the person usually picks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_HISTORY = 5
RARE_SHARE = 0.1  # a value in at most this share of the history is "new ground" in a reason


@dataclass(frozen=True)
class Habits:
    size: int  # items in the history
    facet: str | None  # the multi-valued facet counted (None: embeddings)
    counts: Counter[str]  # facet value -> history items holding it
    centroid: np.ndarray | None  # unit mean embedding of the history, without a facet
    index: Any = None

    @classmethod
    def of(cls, known: Iterable[str], catalog: Any, index: Any) -> Habits | None:
        ids = [i for i in dict.fromkeys(str(k) for k in known) if i in catalog]
        if len(ids) < MIN_HISTORY:
            return None
        facet = next((spec.name for spec in catalog.schema.categorical if spec.multi), None)
        if facet is not None:
            counts = Counter(v for i in ids for v in set(catalog.get(i).categorical.get(facet, ())))
            return cls(len(ids), facet, counts, None, index)
        mean = np.mean([index.vector(i) for i in ids], axis=0)
        return cls(len(ids), None, Counter(), mean / max(float(np.linalg.norm(mean)), 1e-9), index)

    def usualness(self, item: Any) -> float:
        if self.facet is None:
            return float(self.index.vector(item.id) @ self.centroid)
        values = item.categorical.get(self.facet, ())
        if not values:
            return 0.0
        return float(np.mean([self.counts.get(v, 0) / self.size for v in values]))

    def evidence(self, item: Any) -> dict[str, Any] | None:
        """The item's value the person picks least, if it is rare in their history."""
        if self.facet is None:
            return None
        values = item.categorical.get(self.facet, ())
        if not values:
            return None
        rarest = min(values, key=lambda v: (self.counts.get(v, 0), v))
        count = self.counts.get(rarest, 0)
        if count > RARE_SHARE * self.size:
            return None
        return {"kind": "unfamiliar", "value": rarest, "count": count, "of": self.size}


def unfamiliar_phrase(ev: dict[str, Any]) -> str:
    """'only 3 of the 212 you've rated or liked are Western', 'none of … are Film-Noir'."""
    count, size, value = int(ev["count"]), int(ev["of"]), ev["value"]
    said = "none" if count == 0 else f"only {count}"
    return f"{said} of the {size:,} you've rated or liked {'is' if count == 1 else 'are'} {value}"
