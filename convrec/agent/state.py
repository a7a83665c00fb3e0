"""Multi-turn dialogue state: what the conversation asks for after every message so far.

`DialogueState.apply(prefs)` folds one message's `Preferences` into the conversation:

- categorical wishes for a facet replace the earlier ones ("comedy" then "what about drama?"),
  unless the message adds ("also", "too", "with some romance"); a value now wanted is no longer
  excluded and a value now refused is no longer wanted ("actually, no action — drama");
- a numeric range narrows an earlier one it overlaps ("90s" then "after 1995" → 1996–1999) and
  replaces one it does not overlap or when the message overrides ("make it 80s instead");
- "older"/"newer" move the year window (a decade window moves by its width; otherwise the bound
  moves below/above what was shown, or the catalog's reading of "old"/"recent" applies); the turn
  opens a moved window's far side when nothing new is left in it (`TurnChange.moved`);
- "the second one", "that one", "#2" resolve against the last list shown; titles are already ids;
- "start over" clears every constraint, reference and the shown list (taste feedback stays);
  "undo" restores the state before the previous message;
- items already shown are excluded until the user asks to see them again.

`request()` gives the turn's search input; `relaxations()` lists the constraints softest first,
so the turn loop can drop the softest when nothing matches and say which it dropped. The whole
state is a pydantic model: `to_json()` / `from_json()` persist it (e.g. in SQLite).
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Collection, Mapping
from typing import Literal

from pydantic import BaseModel, Field

from convrec.agent.preferences import (
    ItemRef,
    Preferences,
    RangeShift,
    RelatedRef,
    exclude_range_key,
    trait_label,
)
from convrec.agent.lexicon import words as word_list
from convrec.agent.respond import and_list
from convrec.retrieval.catalog import Catalog
from convrec.retrieval.filters import NumericRange, SearchFilters

ConstraintKind = Literal["include", "include_any", "exclude", "range", "exclude_range", "unseen", "similar", "related",
                         "unrelated", "trait"]


class Origin(BaseModel):
    """Where a constraint came from: the turn, the words, and whether it was inferred from a synonym."""

    turn: int
    evidence: str = ""
    inferred: bool = False


class Constraint(BaseModel):
    """One relaxable constraint of the conversation."""

    key: str  # "include:genres:Sci-Fi", "include_any:genres", "exclude:genres:War", "range:year", "unseen",
    #           "similar:100" (a movie the picks should be like: not a filter, never relaxed),
    #           "related:directed_by:100" (only items sharing that relation with item 100),
    #           "unrelated:directed_by:100" (none of them), "not_range:year:1970-1979" (nothing from the 70s),
    #           "trait:renown" (facet "renown", values ["lesser_known"]: only lesser-known items; see TRAITS)
    kind: ConstraintKind
    facet: str | None = None
    values: list[str] = Field(default_factory=list)
    range: NumericRange | None = None
    turn: int = 0
    inferred: bool = False
    evidence: str = ""

    def describe(self) -> str:
        """Plain words for a reply: 'Sci-Fi', 'Comedy or Drama', 'not War', 'year 1990–1999' (a
        value names itself; a range needs its facet)."""
        if self.kind == "include":
            return self.values[0]
        if self.kind == "include_any":
            return " or ".join(self.values)
        if self.kind == "exclude":
            return f"not {self.values[0]}"
        if self.kind == "range" and self.range is not None:
            return f"{self.facet} {self.range.describe()}"
        if self.kind == "exclude_range" and self.range is not None:
            return f"{self.facet} not {self.range.describe()}"
        if self.kind == "trait" and self.facet is not None:
            return trait_label(self.facet, self.values[0])
        return "only items not shown yet"

    def kept_till_last(self, last_to_drop: Mapping[str, Collection[str]]) -> bool:
        """A wish for one of these values (facet -> values): given up only after the others."""
        return self.kind in ("include", "include_any") and bool(
            set(self.values) & set(last_to_drop.get(self.facet or "", ())))


# Softest first. Synonym-derived wishes give way before explicitly named ones; a range before a
# genre the user named; exclusions ("nothing violent") are dropped only after everything else.
_SOFTNESS = {
    ("range", True): 0,
    ("include_any", True): 1,
    ("include", True): 1,
    ("include_any", False): 2,
    ("range", False): 2,
    ("trait", False): 2,
    ("include", False): 3,
    ("unseen", False): 4,
    ("exclude", True): 5,
    ("exclude", False): 6,
    ("exclude_range", False): 6,
}
_LAST_WISH = 4.5  # a wish the catalog's lexicon keeps till last: after shown items, before exclusions


def _softness(c: Constraint, last_to_drop: Mapping[str, Collection[str]]) -> float:
    if c.kept_till_last(last_to_drop):
        return _LAST_WISH
    return _SOFTNESS[(c.kind, c.inferred)]


class TurnRequest(BaseModel):
    """What retrieval and ranking need for one turn."""

    query: str = ""
    avoid: str = ""
    filters: SearchFilters = Field(default_factory=SearchFilters)
    similar_to: list[str] = Field(default_factory=list)
    related: list[RelatedRef] = Field(default_factory=list)  # resolved: each ref has its item_id
    liked: list[str] = Field(default_factory=list)
    disliked: list[str] = Field(default_factory=list)
    rejected: list[str] = Field(default_factory=list)
    acts: list[str] = Field(default_factory=list)
    count: int | None = None
    quality: bool = False  # "the best", "top rated": the best-rated first
    traits: dict[str, str] = Field(default_factory=dict)  # "hidden gems": {"renown": "lesser_known"}
    dropped: list[Constraint] = Field(default_factory=list)


class TurnChange(BaseModel):
    """What one `apply` did, for the reply: `notes` are sentences ("Replaced Action with Drama.")."""

    notes: list[str] = Field(default_factory=list)
    unresolved: list[str] = Field(default_factory=list)  # references that matched nothing shown
    # facets whose window "older"/"newer" moved by its width this turn -> (the direction, -1 or 1;
    # the window before): when nothing new is left there, retrieval opens the far side ("further
    # back"), or, with nothing there either, keeps the window before
    moved: dict[str, tuple[int, NumericRange | None]] = Field(default_factory=dict)


class DialogueState(BaseModel):
    """The conversation's accumulated constraints, references, feedback and shown items."""

    turn: int = 0
    query: str = ""
    avoid: str = ""
    # words of names the catalog cannot look up ("John Wayne"): searched as words, but no reason
    # claims that a pick matches them
    names: list[str] = Field(default_factory=list)
    include_all: dict[str, list[str]] = Field(default_factory=dict)
    include_any: dict[str, list[str]] = Field(default_factory=dict)
    exclude: dict[str, list[str]] = Field(default_factory=dict)
    ranges: dict[str, NumericRange] = Field(default_factory=dict)
    exclude_ranges: dict[str, list[NumericRange]] = Field(default_factory=dict)  # "nothing from the 70s"
    similar_to: list[str] = Field(default_factory=list)
    related: list[RelatedRef] = Field(default_factory=list)
    liked: list[str] = Field(default_factory=list)
    disliked: list[str] = Field(default_factory=list)
    rejected: list[str] = Field(default_factory=list)
    # items a range was said around ("from the same year as Titanic"): known, so not offered
    anchors: list[str] = Field(default_factory=list)
    shown: list[str] = Field(default_factory=list)
    last_shown: list[str] = Field(default_factory=list)
    focus: str | None = None
    # what the person's last message liked or singled out ("the second one looks good"): "more like
    # it" in the next message means it, though a new list was shown in between
    subject: str | None = None
    acts: list[str] = Field(default_factory=list)  # the last message's acts
    count: int | None = None  # how many picks were last asked for; kept until another count or starting over
    quality: bool = False  # asked for the best rated, until starting over
    traits: dict[str, str] = Field(default_factory=dict)  # "hidden gems", "award-winning": until dropped
    origins: dict[str, Origin] = Field(default_factory=dict)
    previous: str | None = Field(None, description="JSON of the state before the last message (undo).")
    # "3 action movies from the 80s and 2 comedies": one list per part, each with its own state
    # (see `convrec.agent.groups`); the fields above then hold what every part asks for
    groups: list[Group] = Field(default_factory=list)

    # -- persistence -----------------------------------------------------------------------------
    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> DialogueState:
        return cls.model_validate_json(data)

    # -- the turn --------------------------------------------------------------------------------
    def record_shown(self, item_ids: list[str]) -> None:
        """Remember the list just shown (ordinals refer to it; its items are not repeated)."""
        ids = [str(i) for i in item_ids]
        self.last_shown = ids
        for item_id in ids:
            if item_id not in self.shown:
                self.shown.append(item_id)
        # "that one" now means the top of the new list until an item is singled out; "more like
        # it" may still mean what the message before the list singled out
        self.subject = self.focus
        self.focus = None

    def apply(self, prefs: Preferences, catalog: Catalog | None = None) -> TurnChange:
        """Fold one message into the conversation. `catalog` lets "older"/"newer" look at the years
        of what was shown; without it they move a range that exists or use their fallback."""
        change = TurnChange()
        snapshot = self.model_copy(update={"previous": None}).to_json()
        acts = list(prefs.acts)
        if "undo" in acts and self.previous:
            restored = DialogueState.from_json(self.previous)
            for name in type(self).model_fields:
                setattr(self, name, getattr(restored, name))
            change.notes.append("Undid the last change.")
        if "reset" in acts:
            # "something completely different": start over, but with none of what was shown
            self._reset(keep_shown="something_else" in acts)
            change.notes.append("Started over.")
        if "either" in acts:
            self._either(change)
        self.turn += 1
        self.acts = acts
        self.count = prefs.count or (None if "reset" in acts else self.count)  # "8 family films", "not #3": 8 again
        # "the best" and "the worst" replace each other ("the highest rated war movie", "and the worst?")
        if prefs.traits.get("rating") == "worst":
            self.quality = False
        elif prefs.quality:
            self.traits.pop("rating", None)
        self.quality = self.quality or prefs.quality
        for trait, value in prefs.traits.items():
            self.traits[trait] = value
            self._origin(f"trait:{trait}", prefs, f"trait:{trait}")

        # categorical wishes
        for facet in sorted(set(prefs.include_all) | set(prefs.include_any)):
            new_all = prefs.include_all.get(facet, [])
            new_any = prefs.include_any.get(facet, [])
            if not prefs.additive:
                old = self.include_all.pop(facet, []) + self.include_any.pop(facet, [])
                gone = [v for v in old if v not in new_all + new_any]
                if gone:
                    change.notes.append(f"Replaced {and_list(gone)} with {and_list(new_all + new_any)}.")
                for v in gone:
                    self.origins.pop(f"include:{facet}:{v}", None)
                self.origins.pop(f"include_any:{facet}", None)
            for v in new_all:
                self._add_unique(self.include_all, facet, v)
                self._origin(f"include:{facet}:{v}", prefs, f"include:{facet}:{v}")
            if new_any:
                for v in new_any:
                    self._add_unique(self.include_any, facet, v)
                self._origin(f"include_any:{facet}", prefs, f"include:{facet}:{new_any[0]}")
            for v in new_all + new_any:
                if v in self.exclude.get(facet, []):
                    self.exclude[facet].remove(v)
                    self.origins.pop(f"exclude:{facet}:{v}", None)
                    change.notes.append(f"{v} is wanted again.")
        for facet, values in prefs.withdraw.items():
            for v in values:
                for group in (self.include_all, self.include_any):
                    if v in group.get(facet, []):
                        group[facet].remove(v)
                        self.origins.pop(f"include:{facet}:{v}", None)
                        change.notes.append(f"No longer asking for {v}.")
        for facet, values in prefs.allow.items():
            for v in values:
                if v in self.exclude.get(facet, []):
                    self.exclude[facet].remove(v)
                    self.origins.pop(f"exclude:{facet}:{v}", None)
                    change.notes.append(f"{v} is allowed again.")
        milder: list[str] = []
        for facet, values in prefs.exclude.items():
            for v in values:
                wanted = any(v in group.get(facet, []) for group in (self.include_all, self.include_any))
                if wanted and f"exclude:{facet}:{v}" in prefs.softened:
                    # "less silly" after "a comedy": a milder comedy, not none; the words steer the
                    # search away (see `avoid`)
                    words = prefs.evidence.get(f"exclude:{facet}:{v}", v)
                    milder.append(words)
                    change.notes.append(f"Kept {v}, only less {words}.")
                    continue
                words = prefs.evidence.get(f"exclude:{facet}:{v}", "")
                implied = words not in ("", "llm") and f"exclude:{facet}:{v}" in prefs.inferred and (
                    words in prefs.topics  # "aliens": a topic the lexicon maps onto Sci-Fi
                    or sum(k.startswith("exclude:") and e == words for k, e in prefs.evidence.items()) > 1)
                if wanted and implied:
                    # "without aliens" after "a film set in space", "nothing violent" after "an
                    # action movie": a topic, or a word for several values, keeps the wish for the
                    # one asked for and steers away from the word; "no sci-fi", "no cartoons" drop it
                    milder.append(words)
                    change.notes.append(f"Kept {v}, steering away from “{words}”.")
                    continue
                for group in (self.include_all, self.include_any):
                    if v in group.get(facet, []):
                        group[facet].remove(v)
                        self.origins.pop(f"include:{facet}:{v}", None)
                        change.notes.append(f"Dropped the wish for {v}.")
                self._add_unique(self.exclude, facet, v)
                self._origin(f"exclude:{facet}:{v}", prefs, f"exclude:{facet}:{v}")

        # numeric ranges and relative moves
        for facet, rng in prefs.ranges.items():
            old = self.ranges.get(facet)
            # both, unless they share no value (then the new one replaces the old)
            merged = rng if old is None or prefs.replace else (old.intersect(rng) or rng)
            if old is not None and merged != old and merged == rng:
                change.notes.append(f"Replaced {old.describe()} with {merged.describe()}.")
            self.ranges[facet] = merged
            self._origin(f"range:{facet}", prefs, f"range:{facet}")
            for hole in [h for h in self.exclude_ranges.get(facet, []) if _within(merged, h)]:
                # "nothing from the 70s", then "OK, the 70s then": the newer wish wins
                self._drop_hole(facet, hole)
                change.notes.append(f"{hole.describe()} is allowed again.")
        for facet, spans in prefs.lifted.items():
            old = self.ranges.get(facet)
            if old is not None and (not spans or any(_overlaps(old, span) for span in spans)):
                # "drop the 80s" after "the 80s"; "any year is fine"
                self.ranges.pop(facet)
                self.origins.pop(f"range:{facet}", None)
                change.notes.append(f"No longer limited to {old.describe()}.")
            for hole in list(self.exclude_ranges.get(facet, [])):
                if not spans or any(_within(hole, span) or _within(span, hole) for span in spans):
                    self._drop_hole(facet, hole)  # "the 70s are fine" after "nothing from the 70s"
                    change.notes.append(f"{hole.describe()} is allowed again.")
        for facet, spans in prefs.widened.items():
            for span in spans:
                for hole in [h for h in self.exclude_ranges.get(facet, []) if _overlaps(h, span)]:
                    self._drop_hole(facet, hole)  # "the 70s are fine" after "nothing from the 70s"
                    change.notes.append(f"{hole.describe()} is allowed again.")
                old = self.ranges.get(facet)
                if old is not None and not _within(span, old):  # "I don't mind the 80s" after "the 90s"
                    lows, highs = [old.low, span.low], [old.high, span.high]
                    self.ranges[facet] = NumericRange(low=None if None in lows else min(lows),  # type: ignore[type-var]
                                                      high=None if None in highs else max(highs))  # type: ignore[type-var]
                    change.notes.append(f"Widened {old.describe()} to {self.ranges[facet].describe()}.")
        for facet, holes in prefs.exclude_ranges.items():
            for hole in holes:
                old = self.ranges.get(facet)
                if old is not None and _within(old, hole):
                    # "the 80s", then "nothing from the 80s": the refusal replaces the wish
                    self.ranges.pop(facet)
                    self.origins.pop(f"range:{facet}", None)
                    change.notes.append(f"No longer asking for {old.describe()}.")
                if hole not in self.exclude_ranges.setdefault(facet, []):
                    self.exclude_ranges[facet].append(hole)
                key = exclude_range_key(facet, hole)
                self._origin(key, prefs, key)
        for shift in prefs.shifts:
            if shift.anchor is not None and not shift.anchor.item_id:
                shift = self._pin_anchor(shift, change, catalog)
                if shift is None:
                    continue
            # "something older, maybe the 80s": the 80s say how much ("after Star Wars" still bounds them)
            if shift.anchor is not None or shift.facet not in prefs.ranges:
                before_shift = self.ranges.get(shift.facet)
                self._shift(shift, catalog, prefs)
                if shift.anchor is None and shift.span is None and self.ranges.get(shift.facet) != before_shift:
                    change.moved[shift.facet] = (shift.direction, before_shift)

        # References. "That one" in a refusal means what was in focus before this message ("not
        # that one"); in a wish it may mean a title this message just named ("I love Casablanca.
        # More like that"), or an item it singled out by position ("the third one sounds good,
        # more like that").
        before = self.focus
        subject, self.subject = self.subject, None  # for this message only
        named = [i for r in (*prefs.liked, *prefs.similar_to) if r.pointer is None for i in self._resolve(r)]
        resolved: dict[str, list[str]] = {}
        for name in ("similar_to", "liked", "disliked", "rejected"):
            self.focus = named[-1] if named and name in ("similar_to", "liked") else before
            if name == "similar_to" and self.focus is None and subject is not None and (
                    subject in self.liked or subject in self.similar_to):
                # "the third one looks good" → a new list → "more like it": the third one, not the
                # new top; "the godfather" (like The Godfather) → a list → "anything else like
                # it?": The Godfather still, not the list's first
                self.focus = subject
            ids: list[str] = []
            for ref in getattr(prefs, name):
                got = self._resolve(ref)
                if not got:
                    change.unresolved.append(ref.describe())
                ids.extend(got)
            resolved[name] = ids
        self.focus = named[-1] if named else before
        if resolved["similar_to"]:
            if not prefs.additive:  # "like Toy Story and Aladdin" → "just Aladdin": Toy Story is known, not a pick
                for i in self.similar_to:
                    if i not in resolved["similar_to"]:
                        self._add_list(self.shown, i)
            self.similar_to = (self.similar_to if prefs.additive else []) + [
                i for i in resolved["similar_to"] if i not in (self.similar_to if prefs.additive else [])]
            self.focus = resolved["similar_to"][-1]
        for i in resolved["liked"]:
            self.like(i)
            self.focus = i
        for i in resolved["disliked"]:
            self._add_list(self.disliked, i)
            self._remove(self.liked, i)
            self._remove(self.similar_to, i)
        for i in resolved["rejected"]:
            self._add_list(self.rejected, i)
            if i not in resolved["similar_to"]:  # "like Star Wars but not Star Wars": others like it
                self._remove(self.similar_to, i)
        related = []
        for rel in prefs.related:
            # "more from the same director" after a list: the film the conversation is about
            # (what the picks were like), not the top of the list as for "that one"
            anchors = [*self.similar_to, *(r.ref.item_id for r in self.related if r.ref.item_id)]
            pointed = rel.ref.pointer == "focus" and not self.focus and anchors
            got = [anchors[-1]] if pointed else self._resolve(rel.ref)
            if not got:
                change.unresolved.append(rel.ref.describe())
            related += [rel.model_copy(update={"ref": ItemRef(item_id=i)}) for i in got[:1]]
        if related:
            keep = self.related if prefs.additive else []
            self.related = [*keep, *(r for r in related if r not in keep)]
        if prefs.focus is not None:
            got = self._resolve(prefs.focus)
            if got:
                self.focus = got[0]
            else:
                change.unresolved.append(prefs.focus.describe())

        # search text
        if prefs.query:
            self.query = f"{self.query} {prefs.query}".strip() if prefs.additive else prefs.query
        from_names = [w for name in prefs.unknown_people for w in word_list(name)]
        self.names = [w for w in dict.fromkeys([*self.names, *from_names]) if w in self.query.split()]
        if prefs.avoid or milder:
            self.avoid = " ".join(dict.fromkeys(" ".join([prefs.avoid, *milder]).split()))
        self.previous = snapshot
        return change

    def request(self, drop: list[str] | None = None) -> TurnRequest:
        """The search input for this turn, without the constraints whose keys are in `drop`."""
        drop = set(drop or [])
        include_all = {f: [v for v in vs if f"include:{f}:{v}" not in drop] for f, vs in self.include_all.items()}
        include_any = {f: list(vs) for f, vs in self.include_any.items() if f"include_any:{f}" not in drop}
        exclude = {f: [v for v in vs if f"exclude:{f}:{v}" not in drop] for f, vs in self.exclude.items()}
        ranges = {f: r for f, r in self.ranges.items() if f"range:{f}" not in drop}
        holes = {f: [h for h in hs if exclude_range_key(f, h) not in drop] for f, hs in self.exclude_ranges.items()}
        hide_seen = "show_seen" not in self.acts and "unseen" not in drop
        exclude_ids = [*self.rejected, *self.disliked, *self.similar_to, *self.liked, *self.anchors,
                       *(r.ref.item_id for r in self.related if r.ref.item_id and not r.negated and not r.whole)]
        if hide_seen:
            exclude_ids += self.shown
        filters = SearchFilters(
            include_all={f: v for f, v in include_all.items() if v},
            include_any={f: v for f, v in include_any.items() if v},
            exclude={f: v for f, v in exclude.items() if v},
            ranges=ranges,
            exclude_ranges={f: hs for f, hs in holes.items() if hs},
            exclude_ids=list(dict.fromkeys(exclude_ids)),
        )
        dropped = [c for c in self.constraints() if c.key in drop]
        return TurnRequest(
            query=self.query,
            avoid=self.avoid,
            filters=filters,
            similar_to=list(self.similar_to),
            related=list(self.related),
            liked=list(self.liked),
            disliked=list(self.disliked),
            rejected=list(self.rejected),
            acts=list(self.acts),
            count=self.count,
            quality=self.quality,
            traits={t: v for t, v in self.traits.items() if f"trait:{t}" not in drop},
            dropped=dropped,
        )

    def filters(self) -> SearchFilters:
        """The conversation's hard filters for this turn."""
        return self.request().filters

    # -- relaxation ------------------------------------------------------------------------------
    def constraints(self) -> list[Constraint]:
        """Every relaxable constraint now in force."""
        out: list[Constraint] = []

        def origin(key: str) -> Origin:
            return self.origins.get(key) or Origin(turn=0)

        for facet, values in self.include_all.items():
            for v in values:
                o = origin(f"include:{facet}:{v}")
                out.append(Constraint(key=f"include:{facet}:{v}", kind="include", facet=facet, values=[v],
                                      turn=o.turn, inferred=o.inferred, evidence=o.evidence))
        for facet, values in self.include_any.items():
            if values:
                o = origin(f"include_any:{facet}")
                out.append(Constraint(key=f"include_any:{facet}", kind="include_any", facet=facet, values=list(values),
                                      turn=o.turn, inferred=o.inferred, evidence=o.evidence))
        for facet, rng in self.ranges.items():
            o = origin(f"range:{facet}")
            out.append(Constraint(key=f"range:{facet}", kind="range", facet=facet, range=rng, turn=o.turn,
                                  inferred=o.inferred, evidence=o.evidence))
        for trait, value in self.traits.items():
            o = origin(f"trait:{trait}")
            out.append(Constraint(key=f"trait:{trait}", kind="trait", facet=trait, values=[value], turn=o.turn,
                                  evidence=o.evidence))
        if self.shown and "show_seen" not in self.acts:
            out.append(Constraint(key="unseen", kind="unseen", turn=self.turn))
        for facet, values in self.exclude.items():
            for v in values:
                o = origin(f"exclude:{facet}:{v}")
                out.append(Constraint(key=f"exclude:{facet}:{v}", kind="exclude", facet=facet, values=[v],
                                      turn=o.turn, inferred=o.inferred, evidence=o.evidence))
        for facet, holes in self.exclude_ranges.items():
            for hole in holes:
                key = exclude_range_key(facet, hole)
                o = origin(key)
                out.append(Constraint(key=key, kind="exclude_range", facet=facet, range=hole, turn=o.turn,
                                      evidence=o.evidence))
        return out

    def references(self) -> list[Constraint]:
        """The items the picks should be like ("like Fargo") or share a relation with ("by the
        director of Fargo", or refused: "not by …"), as removable constraints. `relaxations` never
        offers them: a reference filters nothing, and a relation is what was asked for."""
        out = [Constraint(key=f"similar:{i}", kind="similar", values=[i], turn=self.turn) for i in self.similar_to]
        out += [Constraint(key=f"{'unrelated' if r.negated else 'related'}:{r.relation}:{r.ref.item_id}",
                           kind="unrelated" if r.negated else "related", facet=r.relation,
                           values=[str(r.ref.item_id)], turn=self.turn, evidence=r.noun) for r in self.related]
        return out

    def relaxations(self, last_to_drop: Mapping[str, Collection[str]] | None = None) -> list[Constraint]:
        """Constraints from softest to hardest: synonym-derived before named, ranges before named
        genres, older turns before newer ones, exclusions last. A wish for a value in
        `last_to_drop` (facet -> values: the lexicon's, e.g. Children's) goes just before the
        exclusions, however it was said: "a horror film for kids" gives up Horror, not the kids."""
        return sorted(self.constraints(), key=lambda c: (_softness(c, last_to_drop or {}), c.turn))

    def drop(self, key: str) -> None:
        """Remove one constraint for good (after telling the user it was relaxed)."""
        kind, _, rest = key.partition(":")
        facet, _, value = rest.partition(":")
        if kind == "include":
            self._remove(self.include_all.get(facet, []), value)
        elif kind == "include_any":
            self.include_any.pop(facet, None)
        elif kind == "exclude":
            self._remove(self.exclude.get(facet, []), value)
        elif kind == "range":
            self.ranges.pop(facet, None)
        elif kind == "not_range":
            for hole in [h for h in self.exclude_ranges.get(facet, []) if exclude_range_key(facet, h) == key]:
                self._drop_hole(facet, hole)
        elif kind == "unseen":
            self.acts = [*self.acts, "show_seen"]
        elif kind == "trait":
            self.traits.pop(facet, None)
        elif kind == "similar":
            self._remove(self.similar_to, rest)
        elif kind in ("related", "unrelated"):
            negated = kind == "unrelated"
            self.related = [r for r in self.related if (r.relation, r.ref.item_id, r.negated) != (facet, value, negated)]
        self.origins.pop(key, None)

    def describe(self) -> str:
        """One line: 'Sci-Fi; not War; year 1990–1999; like 2 items; about "heist"'."""
        parts = [c.describe() for c in self.constraints() if c.kind != "unseen"]
        if self.similar_to:
            parts.append(f"like {len(self.similar_to)} item(s)")
        if self.query:
            parts.append(f"about {self.query!r}")
        return "; ".join(parts) or "nothing yet"

    def like(self, item_id: str) -> None:
        """The person liked this item (in a message): liked from now on, no longer disliked."""
        self._add_list(self.liked, item_id)
        self._remove(self.disliked, item_id)

    # -- several lists -----------------------------------------------------------------------------
    def set_groups(self, groups: list[Group]) -> None:
        """Split the conversation into these groups; while it is split, its own wishes are the
        ones every group holds (what a message that ends the split goes on from). One group is no
        split: the conversation takes its wishes."""
        if len(groups) == 1:
            for name in WISH_FIELDS:
                setattr(self, name, copy.deepcopy(getattr(groups[0].state, name)))
            self.groups = []
            return
        self.groups = groups
        if not groups:
            return
        first = groups[0].state
        shared = first.model_copy(deep=True)

        def said(state: DialogueState) -> set[str]:
            return {c.model_dump_json(include={"key", "values", "range"}) for c in (*state.constraints(), *state.references())}

        held = set.intersection(*(said(g.state) for g in groups))
        for c in (*first.constraints(), *first.references()):
            if c.kind != "unseen" and c.model_dump_json(include={"key", "values", "range"}) not in held:
                shared.drop(c.key)
        if any(g.state.query != first.query for g in groups):
            shared.query = ""
        for name in WISH_FIELDS:
            setattr(self, name, getattr(shared, name))

    def ungroup(self, index: int) -> None:
        """Remove one group (a chip of the split taken away)."""
        self.set_groups([g for i, g in enumerate(self.groups) if i != index])

    # -- helpers ---------------------------------------------------------------------------------
    def _drop_hole(self, facet: str, hole: NumericRange) -> None:
        self.exclude_ranges[facet].remove(hole)
        if not self.exclude_ranges[facet]:
            del self.exclude_ranges[facet]
        self.origins.pop(exclude_range_key(facet, hole), None)

    def _either(self, change: TurnChange) -> None:
        """"Either is fine", "both years": values wanted all at once ("westerns and war films")
        may be any of them; or, when there are none, what the last change replaced comes back
        beside what replaced it ("films from 1994" → "and 1995?" → "both years": 1994–1995;
        "a comedy" → "a drama instead" → "either": Comedy or Drama)."""
        for facet, values in list(self.include_all.items()):
            if len(values) > 1:
                self.include_any[facet] = list(dict.fromkeys([*self.include_any.get(facet, []), *values]))
                del self.include_all[facet]
                for v in values:
                    self.origins.pop(f"include:{facet}:{v}", None)
                change.notes.append(f"Now it can be {and_list(values, 'or')}, not all at once.")
        if change.notes or not self.previous:
            return
        before = DialogueState.from_json(self.previous)
        for facet, rng in list(self.ranges.items()):
            old = before.ranges.get(facet)
            if old is None or old == rng:
                continue
            hull = old.hull(rng)
            self.ranges[facet] = hull
            change.notes.append(f"Now it can be {old.describe()} or {rng.describe()} ({hull.describe()}).")
        for facet in sorted(set(self.include_all) | set(self.include_any)):
            now = [*self.include_all.get(facet, []), *self.include_any.get(facet, [])]
            gone = [v for v in (*before.include_all.get(facet, []), *before.include_any.get(facet, [])) if v not in now]
            if now and gone:
                self.include_any[facet] = [*now, *gone]
                for v in self.include_all.pop(facet, []):
                    self.origins.pop(f"include:{facet}:{v}", None)
                change.notes.append(f"Now it can be {and_list(self.include_any[facet], 'or')}.")

    def _reset(self, keep_shown: bool = False) -> None:
        """Forget the wishes; keep what the person said of items (liked, disliked, refused)."""
        keep = {"liked": self.liked, "disliked": self.disliked, "rejected": self.rejected, "turn": self.turn}
        if keep_shown:
            keep["shown"] = self.shown
        fresh = DialogueState(**keep)
        for name in type(self).model_fields:
            setattr(self, name, getattr(fresh, name))

    def _origin(self, key: str, prefs: Preferences, pref_key: str) -> None:
        self.origins[key] = Origin(turn=self.turn, evidence=prefs.evidence.get(pref_key, ""),
                                   inferred=pref_key in prefs.inferred)

    def resolve(self, ref: ItemRef) -> list[str]:
        """The item ids a reference means now: a title, a position in the last list, "that one"."""
        return self._resolve(ref)

    def _resolve(self, ref: ItemRef) -> list[str]:
        if ref.item_id:
            return [ref.item_id]
        if ref.pointer == "all_shown":
            return list(self.last_shown)
        if ref.pointer == "focus":
            if self.focus:
                return [self.focus]
            return self.last_shown[:1]
        if ref.ordinal is not None and self.last_shown:
            if ref.ordinal == -1:
                return [self.last_shown[-1]]
            if 1 <= ref.ordinal <= len(self.last_shown):
                return [self.last_shown[ref.ordinal - 1]]
        return []

    def _pin_anchor(self, shift: RangeShift, change: TurnChange, catalog: Catalog | None) -> RangeShift | None:
        """"From the same year as #2" / "as it" / "from that year": the shift anchored on that pick,
        or on the film in focus (a list of several has no one film: "that year" after it is not
        guessed), with a note naming whose year it is; None, and a note, when there is none."""
        ref = shift.anchor
        assert ref is not None
        if ref.ordinal is not None:
            got = self._resolve(ref)
            if not got:
                change.unresolved.append(ref.describe())
                return None
        elif self.focus or len(self.last_shown) == 1:
            got = [self.focus or self.last_shown[0]]
        else:
            change.notes.append("I couldn't tell which film's year you meant; name it, or a pick "
                                "(“from the same year as #2”).")
            return None
        item = catalog.get(got[0]) if catalog is not None and got[0] in catalog else None
        value = item.numeric.get(shift.facet) if item is not None else None
        if item is None or value is None:
            return None
        around = f"{value:g}" if not shift.step else f"{value - shift.step:g}–{value + shift.step:g}"
        change.notes.append(f"Going by {item.title}: {around}.")
        return shift.model_copy(update={"anchor": ref.model_copy(update={"item_id": item.id, "title": item.title})})

    def _shift(self, shift: RangeShift, catalog: Catalog | None, prefs: Preferences) -> None:
        facet, d = shift.facet, shift.direction
        old = self.ranges.get(facet)
        new: NumericRange | None = None
        if shift.anchor is not None:
            # "after Star Wars": from the year after its year, within what was asked before
            item = catalog.get(str(shift.anchor.item_id)) if catalog is not None and shift.anchor.item_id in catalog else None
            value = item.numeric.get(facet) if item is not None else None
            if value is None:
                return
            if d == 0:
                self._add_list(self.anchors, item.id)  # type: ignore[union-attr]
            bound = (NumericRange(high=value - 1) if d < 0 else NumericRange(low=value + 1) if d > 0
                     else NumericRange(low=value - shift.step, high=value + shift.step))  # "the same year as Titanic"
            new = (old.intersect(bound) if old is not None else None) or bound
        elif shift.span and old is not None and old.low is not None and old.high is not None:
            # the span-sized block next to the window, aligned to the span: the year before 1994 is
            # 1993, the decade before 1994 the 1980s, the year after the 90s 2000
            u = shift.span
            low = (math.floor(old.low / u) - 1) * u if d < 0 else (math.floor(old.high / u) + 1) * u
            new = NumericRange(low=low, high=low + u - 1)  # spans are whole units (the lexicon checks)
        elif old is not None and old.low is not None and old.high is not None:
            width = old.high - old.low + 1
            new = NumericRange(low=old.low - width, high=old.low - 1) if d < 0 else NumericRange(
                low=old.high + 1, high=old.high + width)
        elif old is not None and d < 0 and old.low is not None:
            new = NumericRange(high=old.low - 1)
        elif old is not None and d > 0 and old.high is not None:
            new = NumericRange(low=old.high + 1)
        else:
            seen = self._shown_values(facet, catalog)
            if seen:
                mid = float(statistics.median(seen))
                new = NumericRange(high=mid - 1) if d < 0 else NumericRange(low=mid + 1)
                # keep a one-sided bound the user already set on the other side
                if old is not None:
                    new = NumericRange(low=old.low if d < 0 else new.low, high=new.high if d < 0 else old.high)
                    if new.low is not None and new.high is not None and new.low > new.high:
                        new = NumericRange(low=None, high=new.high) if d < 0 else NumericRange(low=new.low)
            elif old is not None and d < 0 and old.high is not None:
                new = NumericRange(high=old.high - shift.step)
            elif old is not None and d > 0 and old.low is not None:
                new = NumericRange(low=old.low + shift.step)
            else:
                new = shift.fallback
        if new is None:
            return
        self.ranges[facet] = new
        self.origins[f"range:{facet}"] = Origin(turn=self.turn, evidence=shift.mention, inferred=True)

    def _shown_values(self, facet: str, catalog: Catalog | None) -> list[float]:
        if catalog is None:
            return []
        out = []
        for item_id in self.last_shown:
            if item_id in catalog:
                value = catalog.get(item_id).numeric.get(facet)
                if value is not None:
                    out.append(float(value))
        return out

    @staticmethod
    def _add_unique(group: dict[str, list[str]], facet: str, value: str) -> None:
        bucket = group.setdefault(facet, [])
        if value not in bucket:
            bucket.append(value)

    @staticmethod
    def _add_list(items: list[str], value: str) -> None:
        if value not in items:
            items.append(value)

    @staticmethod
    def _remove(items: list[str], value: str) -> None:
        if value in items:
            items.remove(value)


def _within(inner: NumericRange, outer: NumericRange) -> bool:
    """Every value of `inner` lies in `outer` (open ends count as unbounded)."""
    low_ok = outer.low is None or (inner.low is not None and inner.low >= outer.low)
    high_ok = outer.high is None or (inner.high is not None and inner.high <= outer.high)
    return low_ok and high_ok


def _overlaps(a: NumericRange, b: NumericRange) -> bool:
    """Some value lies in both (open ends count as unbounded)."""
    return (a.low is None or b.high is None or a.low <= b.high) and (b.low is None or a.high is None or b.low <= a.high)


class Group(BaseModel):
    """One of the lists a message asked for ("3 action movies from the 80s"): how many it shows
    and its own dialogue state."""

    count: int = Field(ge=1)
    state: DialogueState


#: The fields of a state that hold what is wished for (not what was shown or said of items)
WISH_FIELDS = ("query", "avoid", "names", "include_all", "include_any", "exclude", "ranges", "exclude_ranges",
               "similar_to", "related", "quality", "traits", "origins")

DialogueState.model_rebuild()
