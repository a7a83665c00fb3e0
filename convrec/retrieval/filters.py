"""Hard filters: categorical include/exclude, numeric ranges and excluded ids.

One `SearchFilters` value is turned into a Chroma `where` clause for the vector store, into a row
mask over numpy facet columns (`FacetColumns`, which the index's query planner uses) and into a
plain predicate (`matches`) for checking results. Categorical values are
stored in Chroma as lists, so single- and multi-valued facets filter the same way.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections import defaultdict
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from convrec.errors import ConvrecError
from convrec.retrieval.catalog import Catalog, CatalogSchema, Item

ID_FIELD = "item_id"  # the metadata key holding an item's id (Chroma cannot filter on ids)


def value_key(value: str) -> str:
    """Loose key for matching facet values: 'sci-fi', 'SciFi' and 'Sci Fi' all give 'scifi'."""
    return re.sub(r"[\W_]+", "", value.casefold())


_LOOKUPS: dict[int, tuple[tuple[str, ...], dict[str, str]]] = {}
_LOOKUPS_LOCK = threading.Lock()


def _value_lookup(values: tuple[str, ...]) -> dict[str, str]:
    """value_key → value for one facet's vocabulary, built once per vocabulary: Book-Crossing's
    authors alone are 100k values, and rebuilding this on every search cost 190 ms."""
    with _LOOKUPS_LOCK:
        cached = _LOOKUPS.get(id(values))
        if cached is None or cached[0] is not values:
            cached = (values, {value_key(v): v for v in values})  # holds `values`, so the id stays valid
            _LOOKUPS[id(values)] = cached
        return cached[1]


class NumericRange(BaseModel):
    model_config = ConfigDict(frozen=True)
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> NumericRange:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"range low {self.low} is above high {self.high}")
        return self

    def contains(self, value: float | None) -> bool:
        if value is None:
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def intersect(self, other: NumericRange) -> NumericRange | None:
        """The values both ranges hold, or None when they share none."""
        lo = max((x for x in (self.low, other.low) if x is not None), default=None)
        hi = min((x for x in (self.high, other.high) if x is not None), default=None)
        return None if lo is not None and hi is not None and lo > hi else NumericRange(low=lo, high=hi)

    def hull(self, other: NumericRange) -> NumericRange:
        """The smallest range holding both (an open end stays open): 1994 and 1995 → 1994–1995."""
        lo = None if self.low is None or other.low is None else min(self.low, other.low)
        hi = None if self.high is None or other.high is None else max(self.high, other.high)
        return NumericRange(low=lo, high=hi)

    def describe(self) -> str:
        """'1990–1999', '1990', 'from 1990', 'up to 1999'."""
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            return f"{lo:g}–{hi:g}" if lo != hi else f"{lo:g}"
        return f"from {lo:g}" if lo is not None else f"up to {hi:g}" if hi is not None else "any"


class SearchFilters(BaseModel):
    """Constraints every result must meet.

    - `include_any[f]`: the item has at least one of these values of facet f;
    - `include_all[f]`: the item has every one of them;
    - `exclude[f]`: the item has none of them;
    - `ranges[f]`: numeric facet f lies within [low, high] (items with f unknown are excluded);
    - `exclude_ranges[f]`: numeric facet f lies outside each of these ("nothing from the 70s";
      items with f unknown are excluded, as Chroma cannot test for a missing field);
    - `exclude_ids`: never return these items;
    - `only_ids`: when set, return none but these items ("films by the director of Fargo").
    """

    include_any: dict[str, list[str]] = Field(default_factory=dict)
    include_all: dict[str, list[str]] = Field(default_factory=dict)
    exclude: dict[str, list[str]] = Field(default_factory=dict)
    ranges: dict[str, NumericRange] = Field(default_factory=dict)
    exclude_ranges: dict[str, list[NumericRange]] = Field(default_factory=dict)
    exclude_ids: list[str] = Field(default_factory=list)
    only_ids: list[str] | None = None

    def is_empty(self) -> bool:
        return not (
            any(self.include_any.values())
            or any(self.include_all.values())
            or any(self.exclude.values())
            or self.ranges
            or any(self.exclude_ranges.values())
            or self.exclude_ids
            or self.only_ids is not None
        )

    # -- checking against a catalog's schema -------------------------------------------------
    def normalized(self, schema: CatalogSchema) -> SearchFilters:
        """Check facet names and map values case-insensitively onto the catalog's vocabulary.

        Raises a `ConvrecError` naming the closest known values when a value does not exist.
        """

        def fix_values(facet: str, values: list[str]) -> list[str]:
            spec = schema.get(facet)
            if spec is None or spec.kind != "categorical":
                known = ", ".join(f.name for f in schema.categorical) or "none"
                raise ConvrecError(f"Unknown categorical facet {facet!r}; this catalog has: {known}.")
            lookup = _value_lookup(spec.values)
            out = []
            for value in values:
                hit = lookup.get(value_key(str(value)))
                if hit is None:
                    keys = difflib.get_close_matches(value_key(str(value)), list(lookup), n=3, cutoff=0.6)
                    close = [lookup[k] for k in keys]
                    hint = f" Did you mean {', '.join(close)}?" if close else ""
                    raise ConvrecError(f"{spec.display.capitalize()} {value!r} does not exist in this catalog.{hint}")
                out.append(hit)
            return list(dict.fromkeys(out))

        def fix(group: dict[str, list[str]]) -> dict[str, list[str]]:
            return {f: fix_values(f, v) for f, v in group.items() if v}

        for facet in [*self.ranges, *self.exclude_ranges]:
            spec = schema.get(facet)
            if spec is None or spec.kind != "numeric":
                known = ", ".join(f.name for f in schema.numeric) or "none"
                raise ConvrecError(f"Unknown numeric facet {facet!r}; this catalog has: {known}.")
        return SearchFilters(
            include_any=fix(self.include_any),
            include_all=fix(self.include_all),
            exclude=fix(self.exclude),
            ranges=dict(self.ranges),
            exclude_ranges={f: list(v) for f, v in self.exclude_ranges.items() if v},
            exclude_ids=list(dict.fromkeys(str(i) for i in self.exclude_ids)),
            only_ids=None if self.only_ids is None else list(dict.fromkeys(str(i) for i in self.only_ids)),
        )

    # -- the two evaluations -----------------------------------------------------------------
    def to_where(self) -> dict[str, Any] | None:
        """The equivalent Chroma `where` clause (None when there is nothing to filter)."""
        clauses: list[dict[str, Any]] = []
        for facet, values in self.include_any.items():
            if len(values) == 1:
                clauses.append({facet: {"$contains": values[0]}})
            elif values:
                clauses.append({"$or": [{facet: {"$contains": v}} for v in values]})
        for facet, values in self.include_all.items():
            clauses.extend({facet: {"$contains": v}} for v in values)
        for facet, values in self.exclude.items():
            clauses.extend({facet: {"$not_contains": v}} for v in values)
        for facet, rng in self.ranges.items():
            clauses.append({facet: {"$gte": float(rng.low) if rng.low is not None else -1e300}})
            if rng.high is not None:
                clauses.append({facet: {"$lte": float(rng.high)}})
        for facet, holes in self.exclude_ranges.items():
            for rng in holes:
                outside = [{facet: {"$lt": float(rng.low)}}] if rng.low is not None else []
                outside += [{facet: {"$gt": float(rng.high)}}] if rng.high is not None else []
                outside = outside or [{facet: {"$lt": -1e300}}]  # a hole over everything: nothing is outside it
                clauses.append(outside[0] if len(outside) == 1 else {"$or": outside})
        if self.exclude_ids:
            clauses.append({ID_FIELD: {"$nin": list(self.exclude_ids)}})
        if self.only_ids is not None:
            clauses.append({ID_FIELD: {"$in": list(self.only_ids)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, item: Item, excluded: AbstractSet[str] | None = None) -> bool:
        """The same constraints as `to_where`, evaluated in Python. Callers checking many items
        against a long `exclude_ids` (a person's whole history) pass it once as a set."""
        if item.id in (self.exclude_ids if excluded is None else excluded):
            return False
        if self.only_ids is not None and item.id not in self.only_ids:
            return False
        for facet, values in self.include_any.items():
            if values and not set(values) & set(item.categorical.get(facet, ())):
                return False
        for facet, values in self.include_all.items():
            if not set(values) <= set(item.categorical.get(facet, ())):
                return False
        for facet, values in self.exclude.items():
            if set(values) & set(item.categorical.get(facet, ())):
                return False
        for facet, rng in self.ranges.items():
            if not rng.contains(item.numeric.get(facet)):
                return False
        for facet, holes in self.exclude_ranges.items():
            value = item.numeric.get(facet)
            if holes and (value is None or any(rng.contains(value) for rng in holes)):
                return False
        return True

    def describe(self) -> str:
        """A short human reading, e.g. 'genre: Sci-Fi; not War; year 1990–1999'."""
        parts = []
        for facet, values in self.include_all.items():
            parts.append(f"{facet}: {' + '.join(values)}")
        for facet, values in self.include_any.items():
            parts.append(f"{facet}: {' or '.join(values)}")
        for facet, values in self.exclude.items():
            parts.append(f"not {', '.join(values)}")
        for facet, rng in self.ranges.items():
            low = "" if rng.low is None else f"{rng.low:g}"
            high = "" if rng.high is None else f"{rng.high:g}"
            parts.append(f"{facet} {low}–{high}")
        for facet, holes in self.exclude_ranges.items():
            parts += [f"{facet} not {rng.describe()}" for rng in holes]
        if self.exclude_ids:
            n = len(self.exclude_ids)
            parts.append(f"{n} item{'' if n == 1 else 's'} excluded")
        return "; ".join(parts) or "no filters"


def item_metadata(item: Item) -> dict[str, Any]:
    """How an item is stored in Chroma's metadata: lists for categorical facets, floats for numeric."""
    meta: dict[str, Any] = {ID_FIELD: item.id}
    for facet, values in item.categorical.items():
        if values:
            meta[facet] = list(values)
    for facet, value in item.numeric.items():
        meta[facet] = float(value)
    return meta


class FacetColumns:
    """A catalog's facets as numpy columns, so a `SearchFilters` becomes a row mask in a few
    milliseconds even on 271k items: an inverted list of rows per categorical value and one float
    array per numeric facet (NaN = unknown). Same semantics as `matches`."""

    def __init__(self, catalog: Catalog) -> None:
        items = catalog.items
        self.catalog = catalog
        self.n = len(items)
        inverted: dict[tuple[str, str], list[int]] = defaultdict(list)
        numeric: dict[str, list[float]] = defaultdict(lambda: [np.nan] * self.n)
        for row, it in enumerate(items):
            for facet, values in it.categorical.items():
                for value in values:
                    inverted[(facet, value)].append(row)
            for facet, number in it.numeric.items():
                if number is not None:
                    numeric[facet][row] = float(number)
        self._rows = {key: np.asarray(rows, dtype=np.int64) for key, rows in inverted.items()}
        self._numeric = {facet: np.asarray(col, dtype=np.float64) for facet, col in numeric.items()}

    def _has(self, facet: str, value: str) -> np.ndarray:
        hit = np.zeros(self.n, dtype=bool)
        hit[self._rows.get((facet, value), np.zeros(0, dtype=np.int64))] = True
        return hit

    def mask(self, filters: SearchFilters) -> np.ndarray:
        """True for the rows (catalog order) that meet every constraint."""
        mask = np.ones(self.n, dtype=bool)
        for facet, values in filters.include_any.items():
            if values:
                any_hit = np.zeros(self.n, dtype=bool)
                for value in values:
                    any_hit |= self._has(facet, value)
                mask &= any_hit
        for facet, values in filters.include_all.items():
            for value in values:
                mask &= self._has(facet, value)
        for facet, values in filters.exclude.items():
            for value in values:
                mask[self._rows.get((facet, value), np.zeros(0, dtype=np.int64))] = False
        for facet, rng in filters.ranges.items():
            col = self._numeric.get(facet)
            if col is None:  # no item has this facet: nothing can lie in the range
                mask[:] = False
                continue
            ok = ~np.isnan(col)
            with np.errstate(invalid="ignore"):
                if rng.low is not None:
                    ok &= col >= rng.low
                if rng.high is not None:
                    ok &= col <= rng.high
            mask &= ok
        for facet, holes in filters.exclude_ranges.items():
            if not holes:
                continue
            col = self._numeric.get(facet)
            if col is None:  # no item has this facet: none can be shown to lie outside the holes
                mask[:] = False
                continue
            ok = ~np.isnan(col)
            with np.errstate(invalid="ignore"):
                for rng in holes:
                    inside = np.ones(self.n, dtype=bool)
                    if rng.low is not None:
                        inside &= col >= rng.low
                    if rng.high is not None:
                        inside &= col <= rng.high
                    ok &= ~inside
            mask &= ok
        rows = self.catalog.rows
        for item_id in filters.exclude_ids:
            row = rows.get(item_id)
            if row is not None:
                mask[row] = False
        if filters.only_ids is not None:
            only = np.zeros(self.n, dtype=bool)
            only[[rows[i] for i in filters.only_ids if i in rows]] = True
            mask &= only
        return mask
