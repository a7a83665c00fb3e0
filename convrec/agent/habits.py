"""What a person usually picks, for "something different from what I usually watch".

`Habits.of(known, catalog, index)` reads the person's history (the catalog's interactions and what
they liked in chat): how often each value of the catalog's multi-valued facet (a film's genres)
occurs in it; in a catalog without one, each value of its other categorical facets (a book's
author and publisher); with no categorical facet at all, the mean of its items' embeddings.
`usualness(item)` is how close an item is to that (the mean share of the person's history holding
each of its values, or the cosine to the mean embedding); the turn leans away from it
(`Agent._leaning`). `evidence(item)` names the item's value the person picks least, for its
reason ("none of the 212 you've rated or liked are Film-Noir"; "… have author Jane Austen").

(Titles alone say little about kind: MiniLM puts "Pride and Prejudice by Jane Austen" as close to
five science-fiction novels as "Hyperion by Dan Simmons", so the embeddings come last.)

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
    facets: tuple[tuple[str, str, bool], ...]  # (facet, display name, multi-valued) counted; () = embeddings
    counts: dict[str, Counter[str]]  # facet -> value -> history items holding it
    centroid: np.ndarray | None  # unit mean embedding of the history, without a facet
    index: Any = None

    @classmethod
    def of(cls, known: Iterable[str], catalog: Any, index: Any) -> Habits | None:
        ids = [i for i in dict.fromkeys(str(k) for k in known) if i in catalog]
        if len(ids) < MIN_HISTORY:
            return None
        main = catalog.schema.main_multi
        specs = [main] if main is not None else list(catalog.schema.categorical)
        if specs:
            counts = {s.name: Counter(v for i in ids for v in set(catalog.get(i).categorical.get(s.name, ())))
                      for s in specs}
            return cls(len(ids), tuple((s.name, s.display, s.multi) for s in specs), counts, None, index)
        mean = np.mean([index.vector(i) for i in ids], axis=0)
        return cls(len(ids), (), {}, mean / max(float(np.linalg.norm(mean)), 1e-9), index)

    def usualness(self, item: Any) -> float:
        if not self.facets:
            return float(self.index.vector(item.id) @ self.centroid)
        shares = [float(np.mean([self.counts[f].get(v, 0) / self.size for v in values]))
                  for f, _, _ in self.facets if (values := item.categorical.get(f, ()))]
        return float(np.mean(shares)) if shares else 0.0

    def evidence(self, item: Any) -> dict[str, Any] | None:
        """The item's value the person picks least (of the first facet that has one), if it is
        rare in their history."""
        for facet, display, multi in self.facets:
            values = item.categorical.get(facet, ())
            if not values:
                continue
            rarest = min(values, key=lambda v: (self.counts[facet].get(v, 0), v))
            count = self.counts[facet].get(rarest, 0)
            if count > RARE_SHARE * self.size:
                return None
            return {"kind": "unfamiliar", "value": rarest, "count": count, "of": self.size,
                    **({} if multi else {"facet": display})}
        return None


def unfamiliar_phrase(ev: dict[str, Any]) -> str:
    """'only 3 of the 212 you've rated or liked are Western', 'none of … are Film-Noir', and for a
    single-valued facet 'none of the 5 you've rated or liked have author Jane Austen'."""
    count, size, value = int(ev["count"]), int(ev["of"]), ev["value"]
    said = "none" if count == 0 else f"only {count}"
    if ev.get("facet"):
        return f"{said} of the {size:,} you've rated or liked {'has' if count == 1 else 'have'} {ev['facet']} {value}"
    return f"{said} of the {size:,} you've rated or liked {'is' if count == 1 else 'are'} {value}"
