"""The typed item model shared by every stage: items, their facets, and interactions."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from convrec.errors import UnknownItemError

FacetKind = Literal["categorical", "numeric"]
# What ends a series' name in a title: a subtitle ("Alien: Resurrection") or a number ("Die Hard 2",
# "Star Trek III: The Search for Spock", "Jaws 3-D", "Father of the Bride Part II")
_SERIES_MARK = re.compile(r"^(?P<name>.+?)(?::| (?:part |chapter |episode )?(?:\d{1,2}|ii|iii|iv|v|vi|vii|viii)(?:-d)?\b)")


@dataclass(frozen=True, slots=True)
class Item:
    """One thing that can be recommended.

    `categorical` maps a facet name to its values (several for multi-valued facets such as
    genres); `numeric` maps a facet name to a number (year, price). Absent facets mean unknown.
    """

    id: str
    title: str
    text: str
    categorical: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    numeric: Mapping[str, float] = field(default_factory=dict)

    def facts(self) -> dict[str, object]:
        """The item's facts as plain data, for replies and the API."""
        out: dict[str, object] = {"id": self.id, "title": self.title}
        for name, values in self.categorical.items():
            out[name] = list(values)
        for name, value in self.numeric.items():
            out[name] = int(value) if float(value).is_integer() else value
        return out


@dataclass(frozen=True, slots=True)
class FacetSpec:
    """What the catalog knows about one facet: its kind and its observed vocabulary or range."""

    name: str
    kind: FacetKind
    label: str = ""
    multi: bool = False
    values: tuple[str, ...] = ()  # categorical vocabulary, most frequent first
    low: float | None = None  # numeric range actually present in the catalog
    high: float | None = None
    # the value nearly every item stays at or under (all but 0.01 %): "the last 5 years" counts back
    # from it, so a few impossible years (Book-Crossing has a 2024 among books of 2004) are no anchor
    usual_high: float | None = None

    @property
    def display(self) -> str:
        return self.label or self.name

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "label": self.label,
            "multi": self.multi,
            "values": list(self.values),
            "low": self.low,
            "high": self.high,
            "usual_high": self.usual_high,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> FacetSpec:
        return cls(
            name=str(data["name"]),
            kind=data["kind"],  # type: ignore[arg-type]
            label=str(data.get("label") or ""),
            multi=bool(data.get("multi", False)),
            values=tuple(data.get("values") or ()),  # type: ignore[arg-type]
            low=data.get("low"),  # type: ignore[arg-type]
            high=data.get("high"),  # type: ignore[arg-type]
            usual_high=data.get("usual_high"),  # type: ignore[arg-type]
        )


@dataclass(frozen=True, slots=True)
class CatalogSchema:
    """The facets of a catalog, so parsers and filters can map words onto real values."""

    facets: tuple[FacetSpec, ...]

    def get(self, name: str) -> FacetSpec | None:
        for spec in self.facets:
            if spec.name == name:
                return spec
        return None

    @property
    def categorical(self) -> tuple[FacetSpec, ...]:
        return tuple(f for f in self.facets if f.kind == "categorical")

    @property
    def numeric(self) -> tuple[FacetSpec, ...]:
        return tuple(f for f in self.facets if f.kind == "numeric")

    @property
    def main_multi(self) -> FacetSpec | None:
        """The first multi-valued categorical facet (a film's genres): what an item is "of"."""
        return next((f for f in self.categorical if f.multi), None)

    def to_dict(self) -> dict[str, object]:
        return {"facets": [f.to_dict() for f in self.facets]}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> CatalogSchema:
        return cls(tuple(FacetSpec.from_dict(f) for f in data["facets"]))  # type: ignore[union-attr]

    @classmethod
    def infer(
        cls,
        items: Iterable[Item],
        declared: Iterable[tuple[str, FacetKind, str, bool]],
    ) -> CatalogSchema:
        """Observe vocabularies and ranges of the declared facets (name, kind, label, multi)."""
        declared = list(declared)
        counts: dict[str, Counter[str]] = {n: Counter() for n, k, _, _ in declared if k == "categorical"}
        numbers: dict[str, list[float]] = {n: [] for n, k, _, _ in declared if k == "numeric"}
        for item in items:
            for name, values in item.categorical.items():
                if name in counts:
                    counts[name].update(values)
            for name, value in item.numeric.items():
                if name in numbers:
                    numbers[name].append(float(value))
        facets = []
        for name, kind, label, multi in declared:
            if kind == "categorical":
                vocab = tuple(v for v, _ in sorted(counts[name].items(), key=lambda kv: (-kv[1], kv[0])))
                facets.append(FacetSpec(name, kind, label, multi, values=vocab))
            elif numbers[name]:
                column = np.asarray(numbers[name])
                k = max(1, math.ceil(len(column) * 0.0001))  # the k-th largest value
                usual = float(np.partition(column, len(column) - k)[len(column) - k])
                facets.append(FacetSpec(name, kind, label, False, low=float(column.min()), high=float(column.max()),
                                        usual_high=usual))
            else:
                facets.append(FacetSpec(name, kind, label, False))
        return cls(tuple(facets))


@dataclass(frozen=True)
class Interactions:
    """User-item events in one shape: columns `user`, `item` (str), `value` (float32), `time`
    (float64 seconds, NaN when unknown). Loaded alongside the items for the ranking stage."""

    frame: pd.DataFrame

    COLUMNS = ("user", "item", "value", "time")

    def __post_init__(self) -> None:
        missing = [c for c in self.COLUMNS if c not in self.frame.columns]
        if missing:
            raise ValueError(f"Interactions frame lacks columns {missing}")

    @classmethod
    def from_records(
        cls,
        users: Iterable[str],
        items: Iterable[str],
        values: Iterable[float] | None = None,
        times: Iterable[float] | None = None,
    ) -> Interactions:
        users = list(users)
        frame = pd.DataFrame(
            {
                "user": pd.Series(users, dtype=object).astype(str),
                "item": pd.Series(list(items), dtype=object).astype(str),
                "value": np.asarray(list(values) if values is not None else np.ones(len(users)), dtype=np.float32),
                "time": np.asarray(list(times) if times is not None else np.full(len(users), np.nan), dtype=np.float64),
            }
        )
        return cls(frame)

    @classmethod
    def empty(cls) -> Interactions:
        return cls.from_records([], [])

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def users(self) -> np.ndarray:
        return self.frame["user"].unique()

    @property
    def items(self) -> np.ndarray:
        return self.frame["item"].unique()

    def history(self, user: str) -> pd.DataFrame:
        """One user's events, oldest first."""
        rows = self.frame[self.frame["user"] == str(user)]
        return rows.sort_values("time", kind="stable")

    def restricted_to(self, item_ids: Iterable[str]) -> tuple[Interactions, int]:
        """Keep events on known items; returns (kept, number dropped)."""
        known = set(item_ids)
        mask = self.frame["item"].isin(known)
        kept = self.frame[mask].reset_index(drop=True)
        return Interactions(kept), int((~mask).sum())


@dataclass
class LoadReport:
    """What loading skipped or repaired, so a user can see it instead of guessing."""

    skipped_rows: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    dropped_values: int = 0
    dropped_interactions: int = 0

    def skip(self, reason: str, where: str) -> None:
        self.skipped_rows += 1
        self.reasons[reason] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{where}: {reason}")

    def summary(self) -> str:
        parts = []
        if self.skipped_rows:
            kinds = ", ".join(f"{n}× {r}" for r, n in self.reasons.most_common(4))
            parts.append(f"skipped {self.skipped_rows} bad rows ({kinds})")
        if self.dropped_values:
            parts.append(f"ignored {self.dropped_values} out-of-range values")
        if self.dropped_interactions:
            parts.append(f"dropped {self.dropped_interactions} interactions on unknown items")
        return "; ".join(parts) if parts else "no problems"


DESCRIPTION_SAMPLE = 500
DESCRIPTION_MIN_WORDS = 3
TEMPLATE_SHARE = 0.05  # a word in more of the sampled texts than this is a template's, not a description's


def _words(text: str) -> set[str]:
    """The words of three letters or more, casefolded, numbers left out."""
    words = "".join(c if c.isalnum() else " " for c in text.casefold()).split()
    return {w for w in words if len(w) >= 3 and not w.isdigit()}


class Catalog:
    """A named collection of items with its schema and (optionally) interactions."""

    def __init__(
        self,
        name: str,
        items: list[Item],
        schema: CatalogSchema,
        interactions: Interactions | None = None,
        report: LoadReport | None = None,
        description: str = "",
    ) -> None:
        self.name = name
        self.items = items
        self.schema = schema
        self.interactions = interactions if interactions is not None else Interactions.empty()
        self.report = report or LoadReport()
        self.description = description
        self._by_id = {item.id: i for i, item in enumerate(items)}

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._by_id

    def get(self, item_id: str) -> Item:
        try:
            return self.items[self._by_id[str(item_id)]]
        except KeyError:
            raise UnknownItemError(f"Catalog {self.name!r} has no item with id {item_id!r}.") from None

    @property
    def rows(self) -> Mapping[str, int]:
        """Item id → row, for lookups in bulk (`position` checks and converts one id)."""
        return self._by_id

    def position(self, item_id: str) -> int:
        """Row of an item in `items` (and in the index's embedding matrix)."""
        try:
            return self._by_id[str(item_id)]
        except KeyError:
            raise UnknownItemError(f"Catalog {self.name!r} has no item with id {item_id!r}.") from None

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]

    @property
    def describes_items(self) -> bool:
        """Whether the items' text says more than their titles and facets (a plot, a blurb).
        MovieLens 100K's text is only "Title (1995). Genres: Drama (serious, emotional).", so
        words such as "sports" or "dogs" can only meet titles; the reply says so. Judged on a fixed
        sample: the median item must have at least `DESCRIPTION_MIN_WORDS` words of three letters
        or more that are neither in its title, nor a facet value of its own, nor common to many
        items' texts (a template's or a glossary's words: "genres", "serious")."""
        cached = self.__dict__.get("_describes")
        if cached is None:
            sample = self.items[:: max(1, len(self.items) // DESCRIPTION_SAMPLE)][:DESCRIPTION_SAMPLE]
            texts = [_words(item.text) for item in sample]
            seen = Counter(w for words in texts for w in words)
            common = {w for w, n in seen.items() if n > max(2, TEMPLATE_SHARE * len(sample))}
            extra = []
            for item, words in zip(sample, texts, strict=True):
                own = _words(" ".join([item.title, *(v for vs in item.categorical.values() for v in vs)]))
                extra.append(len(words - own - common))
            cached = self.__dict__["_describes"] = bool(extra) and float(np.median(extra)) >= DESCRIPTION_MIN_WORDS
        return cached

    def title_family(self, item_id: str) -> tuple[str, ...]:
        """Other items whose titles name the same series: "Alien", "Alien 3" and "Alien:
        Resurrection"; "The Terminator" and "Terminator 2: Judgment Day" (the name before a
        subtitle or a sequel number, leading article aside, shared by titles of which at least one
        has such a mark). For series the catalog's other data may not link (MovieLens' knowledge
        graph links Alien to Aliens only)."""
        families = self.__dict__.get("_families")
        if families is None:
            by_name: dict[str, list[tuple[str, bool]]] = {}
            for item in self.items:
                title = re.sub(r"^(?:the|a|an) ", "", item.title.casefold())
                m = _SERIES_MARK.match(title)
                by_name.setdefault((m.group("name") if m else title).strip(), []).append((item.id, m is not None))
            families = {i: tuple(j for j, _ in members) for members in by_name.values()
                        if len({j for j, _ in members}) > 1 and any(marked for _, marked in members)
                        for i, _ in members}
            self.__dict__["_families"] = families
        twins = {str(item_id), *self.twins(str(item_id))}
        return tuple(i for i in families.get(str(item_id), ()) if i not in twins)

    def twins(self, item_id: str) -> tuple[str, ...]:
        """Other ids of the very same item: identical title, text and facets (MovieLens 100K
        lists 18 films twice, Book-Crossing has editions under several ISBNs). A list should
        show such an item once, and leaving one out leaves them all out."""
        groups = self.__dict__.get("_twins")
        if groups is None:
            by_key: dict[tuple[object, ...], list[str]] = {}
            for item in self.items:
                key = (
                    item.title.casefold(),
                    item.text,
                    tuple(sorted((k, tuple(v)) for k, v in item.categorical.items())),
                    tuple(sorted(item.numeric.items())),
                )
                by_key.setdefault(key, []).append(item.id)
            groups = {i: tuple(ids) for ids in by_key.values() if len(ids) > 1 for i in ids}
            self.__dict__["_twins"] = groups
        return tuple(i for i in groups.get(str(item_id), ()) if i != str(item_id))
