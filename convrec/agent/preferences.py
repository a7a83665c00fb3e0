"""What one message asks for, as data: the `Preferences` a parser returns for a turn.

A `Preferences` value holds only what the message itself says. Ordinal references ("the second
one") stay unresolved here; `DialogueState` resolves them against what was shown and merges the
turn into the conversation. `to_filters` maps the message alone onto retrieval's `SearchFilters`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from convrec.retrieval.catalog import CatalogSchema
from convrec.retrieval.filters import NumericRange, SearchFilters, value_key

# What a message can ask the conversation to do besides stating constraints.
Act = Literal[
    "reset",  # "start over": forget every constraint of this conversation
    "something_else",  # "something else", "none of these": new items under the same constraints
    "show_more",  # "show me more", "next": more items under the same constraints
    "show_seen",  # "show them again": items already shown may come back
    "undo",  # "scratch that", "undo": go back to the state before the last turn
    "describe",  # "tell me more about #2": a question about one item, see `focus`
    "thanks",  # "thanks!", "that's all": the whole message closes the conversation; nothing to search
    "greet",  # "hi!", "hello there": the whole message is a greeting; nothing to search
    "best_of_shown",  # "which of these is the best?": the last list, best rated first; nothing new
    "worst_of_shown",  # "which of these is the worst?": the last list, worst rated first
    "why_shown",  # "why these?": what the last list was picked for and how it was ordered; nothing new
    "help",  # "what can you do?", "are you an AI?", "how many movies do you have?": about convrec itself
    "why_not",  # "why not Star Wars?": why the picks left out the item in `focus`
    "reorder_shown",  # "sort them by year", "most popular first": the last list in the `order` asked for
    "my_history",  # "show me my favourites", "what do you know about me?": what convrec goes by for this person
    "count_matches",  # "how many of those do you have?", "how many westerns are there?": a count, no list
    "compare",  # "compare #1 and #2", "which is better, Alien or Aliens?": the items named, side by side
    "either",  # "either is fine", "one or the other": values wanted all at once may now be any of them
    "swap",  # "swap #3 for something else": the picks named (in `rejected`) replaced, the rest of the list kept
    "choose",  # "I'll take #2", "#2 it is": the pick chosen (liked, and in `focus` with `describe`): no new list
]
ACTS: tuple[str, ...] = ("reset", "something_else", "show_more", "show_seen", "undo", "describe", "thanks", "greet",
                         "best_of_shown", "worst_of_shown", "why_shown", "help",
                         "why_not", "reorder_shown", "my_history", "count_matches",
                         "compare", "either", "swap", "choose")
# Traits of an item that are not catalog facets but come from what convrec knows about it, each
# with its values and their chip labels:
# - "renown": which side of the long tail ("hidden gems" / "something popular"), from the
#   interactions (`convrec.ranking.quality.ItemRenown`);
# - "awards": won or was nominated for an award ("award-winning", "Oscar-nominated"), from the
#   knowledge graph's award triples (catalogs with one);
# - "language": "foreign" ("a foreign film", "with subtitles"): in none of the language most items
#   share, by the knowledge graph's language triples; "native" ("no foreign films", "I don't like
#   subtitles", "in English"): not those;
# - "rating": "worst" ("the worst war movies", "lowest rated", "so bad it's good"): the worst
#   rated first, from the ratings (`convrec.ranking.quality.ItemQuality`; "the best" is `quality`);
# - "familiarity": "unfamiliar" ("something different from what I usually watch", "out of my
#   comfort zone"): away from the person's own history (`convrec.agent.habits`).
TRAITS: dict[str, dict[str, str]] = {
    "renown": {"lesser_known": "lesser known", "well_known": "well known"},
    "awards": {"won": "award winner", "nominated": "award nominated"},
    "language": {"foreign": "foreign language", "native": "not foreign language"},
    "rating": {"worst": "worst rated"},
    "familiarity": {"unfamiliar": "a change from your usual"},
}


def trait_label(trait: str, value: str) -> str:
    return TRAITS[trait][value]


class ItemRef(BaseModel):
    """A reference to a catalog item: by title ("like Toy Story"), by position in the last list
    shown ("the second one", "#2", "the last one": ordinal -1), or by pointer ("that one": the item
    in focus). `item_id` is set once resolved against the catalog or the shown list."""

    model_config = ConfigDict(frozen=True)

    item_id: str | None = None
    title: str | None = None
    ordinal: int | None = None
    # "oldest"/"newest": the oldest or newest of the last list ("the oldest one looks good"),
    # pinned to its item by the turn, which knows the list's years
    pointer: Literal["focus", "all_shown", "oldest", "newest"] | None = None
    mention: str = Field("", description="The words as written.")

    @property
    def resolved(self) -> bool:
        return self.item_id is not None

    def describe(self) -> str:
        if self.title:
            return self.title
        if self.ordinal is not None:
            return "the last one" if self.ordinal == -1 else f"#{self.ordinal}"
        if self.pointer == "all_shown":
            return "those"
        return self.mention or "that one"


class RelatedRef(BaseModel):
    """Items linked to a referenced item by a knowledge-graph relation: "films by the director of
    Fargo" is relation `directed_by`, ref Fargo, noun "director" (the word the person used)."""

    model_config = ConfigDict(frozen=True)

    relation: str
    ref: ItemRef
    noun: str = ""
    negated: bool = False  # "nothing by the director of Fargo": none of those items
    whole: bool = False  # "the Star Wars trilogy": the series with the film itself, not only the others

    def describe(self) -> str:
        return f"{self.noun or self.relation.replace('_', ' ')} of {self.ref.describe()}"


class RangeShift(BaseModel):
    """A relative move of a numeric facet: "older" is `direction=-1` on the year facet, "the year
    before" the same with `span=1` (after "1994": 1993; after "the 90s": 1989).

    `fallback` is the range to use when there is nothing to move from (no range yet, nothing
    shown), e.g. the catalog lexicon's reading of "old"."""

    model_config = ConfigDict(frozen=True)

    facet: str
    direction: Literal[-1, 0, 1]  # 0: around an anchor's value ("the same year as Titanic", `step` either side)
    fallback: NumericRange | None = None
    step: float = 10.0  # how far to move a one-sided bound
    span: float | None = None  # "the year before" (1): that span next to the window, not a move by its width
    anchor: ItemRef | None = None  # "after Star Wars": from the year after that item's, not a move
    mention: str = ""


class Preferences(BaseModel):
    """One message's reading.

    - `query`: what to search semantically, with the constraint words removed;
    - `avoid`: words under a negation that name no facet value ("nothing with clowns" → "clowns");
    - `include_all[f]`: every value must be present (multi-valued facets: "a romantic comedy");
    - `include_any[f]`: at least one ("comedy or drama");
    - `exclude[f]`: none of them ("no horror", "nothing violent");
    - `allow[f]`: no longer excluded, though not required ("romance is fine");
    - `withdraw[f]`: no longer wanted, though not excluded ("forget the horror");
    - `ranges[f]`: numeric bounds ("90s", "before 1980");
    - `exclude_ranges[f]`: numeric spans refused in the middle of the facet ("nothing from the
      70s"; a refused span at either end is a bound in `ranges`: "nothing before 1980");
    - `lifted[f]`: numeric limits let go of: the spans named ("drop the 80s"), or, with no span,
      every limit on the facet ("any year is fine");
    - `widened[f]`: numeric spans now welcome ("the 70s are fine", "I don't mind the 80s"): a
      refusal of them is lifted, and a range that leaves them out grows to take them in;
    - `shifts`: relative moves ("older", "newer");
    - `similar_to`: anchors for similarity ("like Toy Story", "more like #2");
    - `related`: only items sharing a knowledge-graph relation with an item ("by the director of
      Fargo"; catalogs whose lexicon names relations);
    - `rejected`: never show these ("not that one", "I've seen Fargo");
    - `liked` / `disliked`: taste feedback for the ranker ("I loved Heat");
    - `focus`: the item a question is about ("tell me more about #2"), with the act `describe`;
    - `acts`: dialogue acts (reset, something_else, show_more, show_seen, undo);
    - `additive`: the message adds to earlier wishes ("also", "too") rather than replacing them;
    - `replace`: the message explicitly overrides ("actually", "instead", "make it");
    - `count`: how many items were asked for ("show me 3");
    - `injection`: text that tried to instruct the system was seen and ignored;
    - `quality`: the best-liked are asked for ("the best", "top rated", "acclaimed"), so the
      picks lean on how well people rated them;
    - `traits`: wishes about what convrec knows of an item beyond its facets (see `TRAITS`):
      `renown` "lesser_known" ("hidden gems", "underrated", "nothing too mainstream") or
      "well_known" ("something popular"); `awards` "won" ("award-winning", "an Oscar winner")
      or "nominated" ("Oscar-nominated"); `language` "foreign" ("a foreign film") or "native" ("no subtitles"); `rating` "worst"
      ("the lowest rated"); `familiarity` "unfamiliar" ("something different from what I usually watch");
    - `topics`: words of `query` that a lexicon topic phrase also read as a value ("vampires":
      Horror), so no one needs telling they were only matched against titles;
    - `unknown_titles`: names compared with or liked that match no catalog title ("like The
      Matrix" in a catalog that ends in 1998), so the reply can say so;
    - `evidence`: for each constraint key (see `constraint_keys`) the words that produced it, and
      `inferred` the keys read from a synonym or an LLM rather than the value's own name;
    - `softened`: exclude keys read from a mood word said as "less ..." or "not too ..." ("less
      silly", "not too violent"; not "less comedy"): a milder one is asked for, so a value the
      conversation already wants stays wanted (after "a comedy", "less silly" keeps Comedy)
      while one it does not want is excluded.
    """

    query: str = ""
    avoid: str = ""
    topics: list[str] = Field(default_factory=list)
    include_all: dict[str, list[str]] = Field(default_factory=dict)
    include_any: dict[str, list[str]] = Field(default_factory=dict)
    exclude: dict[str, list[str]] = Field(default_factory=dict)
    allow: dict[str, list[str]] = Field(default_factory=dict)
    withdraw: dict[str, list[str]] = Field(default_factory=dict)
    ranges: dict[str, NumericRange] = Field(default_factory=dict)
    exclude_ranges: dict[str, list[NumericRange]] = Field(default_factory=dict)
    lifted: dict[str, list[NumericRange]] = Field(default_factory=dict)
    widened: dict[str, list[NumericRange]] = Field(default_factory=dict)
    shifts: list[RangeShift] = Field(default_factory=list)
    similar_to: list[ItemRef] = Field(default_factory=list)
    related: list[RelatedRef] = Field(default_factory=list)
    rejected: list[ItemRef] = Field(default_factory=list)
    liked: list[ItemRef] = Field(default_factory=list)
    disliked: list[ItemRef] = Field(default_factory=list)
    focus: ItemRef | None = None
    acts: list[Act] = Field(default_factory=list)
    additive: bool = False
    replace: bool = False
    count: int | None = Field(None, ge=1, le=100)
    injection: bool = False
    quality: bool = False
    order: str | None = None  # with "reorder_shown": "year:asc", "year:desc", "popular", "title" or "shown"
    traits: dict[str, str] = Field(default_factory=dict)
    unknown_titles: list[str] = Field(default_factory=list)
    unknown_people: list[str] = Field(default_factory=list)  # "by Tarantino" where people have no names
    unsupported: dict[str, str] = Field(default_factory=dict)  # "running times" -> "under 90 minutes"
    evidence: dict[str, str] = Field(default_factory=dict)
    inferred: list[str] = Field(default_factory=list)
    softened: list[str] = Field(default_factory=list)

    #: The lists of item references, in the order a comparison reads them.
    REF_GROUPS: ClassVar[tuple[str, ...]] = ("similar_to", "liked", "disliked", "rejected")

    def item_refs(self, focus: bool = True) -> list[ItemRef]:
        """Every item the message points at: the one a question is about (with `focus`), then the
        films to be like, liked, disliked and turned down, in that order."""
        head = [self.focus] if focus and self.focus is not None else []
        return head + [r for group in self.REF_GROUPS for r in getattr(self, group)]

    # -- small helpers used by the parsers -----------------------------------------------------
    @field_validator("traits")
    @classmethod
    def _known_traits(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = {t: v for t, v in value.items() if v not in TRAITS.get(t, {})}
        if unknown:
            raise ValueError(f"unknown trait values {unknown}; known: {TRAITS}")
        return value

    def add_include(self, facet: str, values: list[str], mode: Literal["all", "any"], evidence: str = "",
                    inferred: bool = False) -> None:
        """Add wanted values; a single value is always `all` (the two mean the same then)."""
        if len(values) == 1:
            mode = "all"
        target = self.include_all if mode == "all" else self.include_any
        bucket = target.setdefault(facet, [])
        for value in values:
            if value not in bucket:
                bucket.append(value)
            self._note(f"include:{facet}:{value}", evidence, inferred)
            # A value both wanted and refused in one message: the later statement wins.
            if value in self.exclude.get(facet, []):
                self.exclude[facet].remove(value)

    def add_exclude(self, facet: str, values: list[str], evidence: str = "", inferred: bool = False,
                    softened: bool = False) -> None:
        bucket = self.exclude.setdefault(facet, [])
        for value in values:
            if value not in bucket:
                bucket.append(value)
            key = f"exclude:{facet}:{value}"
            self._note(key, evidence, inferred)
            if softened and key not in self.softened:
                self.softened.append(key)
            elif not softened and key in self.softened:
                self.softened.remove(key)
            for group in (self.include_all, self.include_any):
                if value in group.get(facet, []):
                    group[facet].remove(value)

    def set_range(self, facet: str, rng: NumericRange, evidence: str = "", inferred: bool = False) -> None:
        old = self.ranges.get(facet)
        if old is not None and inferred and f"range:{facet}" not in self.inferred:
            # A vague word never loosens a number given in the same message: "classic movies
            # made before 1960" stays before 1960 (the tighter of the two bounds is kept).
            lows = [b for b in (old.low, rng.low) if b is not None]
            highs = [b for b in (old.high, rng.high) if b is not None]
            low, high = (max(lows) if lows else None), (min(highs) if highs else None)
            if low is None or high is None or low <= high:
                self.ranges[facet] = NumericRange(low=low, high=high)
            return
        if old is not None:
            # Two bounds said in one message ("after 1980 and before 1990") combine.
            low = rng.low if rng.low is not None else old.low
            high = rng.high if rng.high is not None else old.high
            if low is not None and high is not None and low > high:
                low, high = rng.low, rng.high
            rng = NumericRange(low=low, high=high)
        self.ranges[facet] = rng
        self._note(f"range:{facet}", evidence, inferred)

    def exclude_range(self, facet: str, rng: NumericRange, evidence: str = "") -> None:
        holes = self.exclude_ranges.setdefault(facet, [])
        if rng not in holes:
            holes.append(rng)
        self._note(exclude_range_key(facet, rng), evidence, False)

    def _note(self, key: str, evidence: str, inferred: bool) -> None:
        if evidence:
            self.evidence[key] = evidence
        if inferred and key not in self.inferred:
            self.inferred.append(key)
        if not inferred and key in self.inferred:
            self.inferred.remove(key)

    def clean(self) -> Preferences:
        """Drop empty facet entries and duplicate references (in place; returns self)."""
        for group in (self.include_all, self.include_any, self.exclude, self.allow, self.withdraw):
            for facet in [f for f, v in group.items() if not v]:
                del group[facet]
        # An any-group left with one value is an all-value.
        for facet, values in list(self.include_any.items()):
            if len(values) == 1:
                del self.include_any[facet]
                bucket = self.include_all.setdefault(facet, [])
                if values[0] not in bucket:
                    bucket.append(values[0])
        for name in ("similar_to", "rejected", "liked", "disliked"):
            refs = getattr(self, name)
            seen: set[tuple[object, ...]] = set()
            unique = []
            for ref in refs:
                key = (ref.item_id, ref.ordinal, ref.pointer) if (ref.item_id or ref.ordinal or ref.pointer) else (
                    ref.mention,)
                if key not in seen:
                    seen.add(key)
                    unique.append(ref)
            setattr(self, name, unique)
        self.acts = list(dict.fromkeys(self.acts))
        return self

    # -- reading ---------------------------------------------------------------------------------
    def is_empty(self) -> bool:
        """True when the message carried no constraint, reference, act or search text."""
        return not (
            self.query.strip()
            or self.include_all
            or self.include_any
            or self.exclude
            or self.allow
            or self.withdraw
            or self.ranges
            or self.exclude_ranges
            or self.lifted
            or self.widened
            or self.shifts
            or self.similar_to
            or self.rejected
            or self.liked
            or self.disliked
            or self.acts
            or self.focus
            or self.count
        )

    def to_filters(self, schema: CatalogSchema | None = None) -> SearchFilters:
        """This message alone as retrieval filters (the conversation's are `DialogueState.filters`).

        Resolved references and rejections are excluded by id: a user asking for films like
        Toy Story does not want Toy Story back."""
        exclude_ids = [r.item_id for r in (*self.similar_to, *self.rejected, *self.liked, *self.disliked) if r.item_id]
        filters = SearchFilters(
            include_any={f: list(v) for f, v in self.include_any.items() if v},
            include_all={f: list(v) for f, v in self.include_all.items() if v},
            exclude={f: list(v) for f, v in self.exclude.items() if v},
            ranges=dict(self.ranges),
            exclude_ranges={f: list(v) for f, v in self.exclude_ranges.items() if v},
            exclude_ids=list(dict.fromkeys(exclude_ids)),
        )
        return filters.normalized(schema) if schema is not None else filters

    def describe(self) -> str:
        """A short human reading, e.g. 'genre: Sci-Fi; not Horror; year 1990–1999; like Toy Story'."""
        # the referenced items are named below, not counted as excluded ids
        filters = self.to_filters().model_copy(update={"exclude_ids": []})
        parts = [filters.describe()] if not filters.is_empty() else []
        parts = [p for p in parts if p and p != "no filters"]
        for shift in self.shifts:
            than = f" than {shift.anchor.describe()}" if shift.anchor is not None else ""
            parts.append(f"{shift.facet} {'earlier' if shift.direction < 0 else 'later'}{than}")
        for label, refs in (("like", self.similar_to), ("liked", self.liked), ("disliked", self.disliked),
                            ("not", self.rejected)):
            if refs:
                parts.append(f"{label} " + ", ".join(r.describe() for r in refs))
        from convrec.ranking.paradigms.kg import relation_label

        parts += [f"{'not ' if r.negated else ''}{relation_label(r.relation, r.noun, r.ref.describe())}"
                  for r in self.related]
        if self.unknown_titles:
            parts.append("not in the catalog: " + ", ".join(self.unknown_titles))
        if self.unknown_people:
            parts.append("no names of people to look up: " + ", ".join(self.unknown_people))
        for label, mention in self.unsupported.items():
            parts.append(f"no {label} in the catalog ({mention})")
        if self.acts:
            parts.append(", ".join(self.acts))
        if self.quality:
            parts.append("well rated")
        parts += [trait_label(t, v) for t, v in self.traits.items()]
        if self.query:
            parts.append(f"about {self.query!r}")
        return "; ".join(parts) or "nothing specific"


def exclude_range_key(facet: str, rng: NumericRange) -> str:
    """The constraint key of a refused span: 'not_range:year:1970-1979'."""
    low = "" if rng.low is None else f"{rng.low:g}"
    high = "" if rng.high is None else f"{rng.high:g}"
    return f"not_range:{facet}:{low}-{high}"


def canonical_value(schema: CatalogSchema, facet: str, value: str) -> str | None:
    """The catalog's spelling of a categorical value (case/punctuation-insensitive), or None."""
    spec = schema.get(facet)
    if spec is None or spec.kind != "categorical":
        return None
    key = value_key(value)
    for known in spec.values:
        if value_key(known) == key:
            return known
    return None
