"""Scripted dialogue suites: a YAML format, a runner that replays them against the agent, checks.

A suite is one YAML file. Each dialogue is a list of turns; each turn is what the person says
(plus optional feedback or a reset before it) and what the reply must show:

    suite: movielens-basics            # a name for reports (default: the file name)
    catalog: movielens                 # optional; the agent's default catalog otherwise
    description: Single and combined constraints.
    dialogues:
      - id: scifi-90s                  # unique within the suite
        description: Genre and decade in one message.
        user: "196"                    # optional: a user id from the catalog's history
        tags: [combined, range]
        turns:
          - say: "a sci-fi film from the 90s"
            expect:
              min_items: 3
              every_item:              # facet constraints every recommended item must meet
                genres: {all_of: [Sci-Fi]}
                year: {min: 1990, max: 1999}
              relaxed: false
          - say: "something like Star Wars"
            expect:
              must_not_show: ["Star Wars"]
              target: {title: "The Empire Strikes Back", k: 5}

Turn fields: `say` (the message; may be empty), `repeat` (say it N times, for long messages),
`then` (text appended after the repeats), `like` / `dislike` (titles given as feedback before
the message), `reset: true` (start the conversation over first). Expectations, all optional:

- `every_item`: facet → rule; categorical rules `all_of`, `any_of`, `none_of` (a bare value or
  list is `all_of`), numeric rules `min`, `max`, `not_between: [low, high]`. Every recommended
  item must meet every rule.
- `lists`: for a message asking for several lists ("3 action movies from the 80s and 2 comedies"),
  one entry per list in order, `{items: 3, every_item: {...}}`: the reply shows exactly that many
  items per list, and the items of each list meet that list's rules.
- `min_items`, `max_items`, `no_items: true` (the same as `max_items: 0`).
- `must_show` / `must_not_show`: titles that must / must not be among the recommended items.
- `target: {title: ..., k: 5}` (or `id:`): that item must be in the top k.
- `text_contains` / `text_lacks`: case-insensitive text the reply must / must not contain.
- `relaxed`: true (some constraint was relaxed), false (none was), or text one relaxed
  constraint must contain (e.g. "year").
- `understood` / `not_understood`: text that must / must not appear among the constraints the
  reply says it understood (its chips), e.g. "Comedy", "not Horror".
- `no_repeats: true`: no item shown earlier in the dialogue comes back.

Two checks always run on every turn: the reply has text, and it names no title outside the
recommended items and the items the person referred to (`TitleGuard`, the same guard the reply
stage uses). Titles are written as in the catalog; "Title (1995)" or "id:123" pick one of several
items with the same title.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from convrec.agent.respond import COMMON_WORDS, normalize_text
from convrec.errors import ConvrecError

# --- the format --------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FacetRule(_Strict):
    """What every recommended item must satisfy on one facet."""

    all_of: list[str] = Field(default_factory=list, description="Categorical: has every one of these values.")
    any_of: list[str] = Field(default_factory=list, description="Categorical: has at least one of these.")
    none_of: list[str] = Field(default_factory=list, description="Categorical: has none of these.")
    min: float | None = Field(None, description="Numeric: at least this.")
    max: float | None = Field(None, description="Numeric: at most this.")
    not_between: tuple[float, float] | None = Field(None, description="Numeric: outside [low, high].")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `genres: Comedy` and `genres: [Comedy, Romance]` mean all_of.
        if isinstance(value, str):
            return {"all_of": [value]}
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return {"all_of": value}
        return value

    @model_validator(mode="after")
    def _check(self) -> FacetRule:
        categorical = bool(self.all_of or self.any_of or self.none_of)
        numeric = self.numeric
        if not categorical and not numeric:
            raise ValueError("a facet rule needs all_of, any_of, none_of, min, max or not_between")
        if categorical and numeric:
            raise ValueError("a facet rule is either categorical (all_of/any_of/none_of) or numeric "
                             "(min/max/not_between)")
        if self.not_between is not None and self.not_between[0] > self.not_between[1]:
            raise ValueError(f"not_between: {self.not_between[0]:g} is above {self.not_between[1]:g}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self

    @property
    def numeric(self) -> bool:
        return self.min is not None or self.max is not None or self.not_between is not None

    def describe(self, facet: str) -> str:
        if self.numeric:
            lo = "" if self.min is None else f"{self.min:g}"
            hi = "" if self.max is None else f"{self.max:g}"
            outside = f"not {self.not_between[0]:g}–{self.not_between[1]:g}" if self.not_between else ""
            return f"{facet} " + "; ".join(b for b in (f"{lo}–{hi}" if lo or hi else "", outside) if b)
        bits = []
        if self.all_of:
            bits.append(" + ".join(self.all_of))
        if self.any_of:
            bits.append(" or ".join(self.any_of))
        if self.none_of:
            bits.append("not " + ", ".join(self.none_of))
        return f"{facet} " + "; ".join(bits)


class Target(_Strict):
    """An item that must be among the top k recommendations."""

    title: str | None = None
    id: str | None = None
    k: int = Field(5, ge=1, le=100)

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _one(self) -> Target:
        if (self.title is None) == (self.id is None):
            raise ValueError("a target needs exactly one of title or id")
        return self

    @property
    def ref(self) -> str:
        return f"id:{self.id}" if self.id is not None else str(self.title)


class ListExpect(_Strict):
    """One of several lists a message asked for: how many items it has, and their rules."""

    items: int = Field(ge=1)
    every_item: dict[str, FacetRule] = Field(default_factory=dict)


class Expect(_Strict):
    """What the reply to one turn must show (see the module docstring)."""

    every_item: dict[str, FacetRule] = Field(default_factory=dict)
    lists: list[ListExpect] = Field(default_factory=list)
    min_items: int | None = Field(None, ge=0)
    max_items: int | None = Field(None, ge=0)
    no_items: bool = False
    must_show: list[str] = Field(default_factory=list)
    must_not_show: list[str] = Field(default_factory=list)
    target: Target | None = None
    text_contains: list[str] = Field(default_factory=list)
    text_lacks: list[str] = Field(default_factory=list)
    relaxed: bool | str | None = None
    understood: list[str] = Field(default_factory=list)
    not_understood: list[str] = Field(default_factory=list)
    no_repeats: bool = Field(False, description="No item shown in an earlier turn of the dialogue comes back.")

    @field_validator("must_show", "must_not_show", "text_contains", "text_lacks", "understood", "not_understood",
                     mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> Expect:
        if self.no_items:
            if self.min_items:
                raise ValueError("no_items contradicts min_items")
            if self.must_show or self.target or self.every_item or self.lists:
                raise ValueError("no_items contradicts must_show, target, every_item and lists")
            self.max_items = 0
        if self.min_items is not None and self.max_items is not None and self.min_items > self.max_items:
            raise ValueError(f"min_items {self.min_items} is above max_items {self.max_items}")
        return self


class Turn(_Strict):
    """One message of a scripted dialogue and what its reply must show."""

    say: str
    repeat: int = Field(1, ge=1, le=10_000, description="Say it this many times (long messages).")
    then: str = Field("", description="Text appended after the repeats.")
    like: list[str] = Field(default_factory=list, description="Titles liked (feedback) before the message.")
    dislike: list[str] = Field(default_factory=list, description="Titles disliked before the message.")
    reset: bool = Field(False, description="Start the conversation over before the message.")
    expect: Expect = Field(default_factory=Expect)

    @field_validator("say", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is None:
            return ""  # `say:` with nothing after it is the empty message
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("like", "dislike", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def message(self) -> str:
        text = " ".join([self.say] * self.repeat) if self.repeat > 1 else self.say
        return f"{text} {self.then}" if self.then else text


class Dialogue(_Strict):
    """A scripted conversation."""

    id: str = Field(min_length=1, max_length=100)
    description: str = ""
    user: str | None = None
    tags: list[str] = Field(default_factory=list)
    turns: list[Turn] = Field(min_length=1)

    @field_validator("user", mode="before")
    @classmethod
    def _user_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class Suite(_Strict):
    """A file of dialogues."""

    suite: str = ""
    catalog: str | None = None
    description: str = ""
    dialogues: list[Dialogue] = Field(min_length=1)
    path: str = Field("", exclude=True, description="Where the suite was read from (set by the loader).")

    @model_validator(mode="after")
    def _unique_ids(self) -> Suite:
        seen: set[str] = set()
        for d in self.dialogues:
            if d.id in seen:
                raise ValueError(f"dialogue id {d.id!r} is used twice")
            seen.add(d.id)
        return self


# --- loading -----------------------------------------------------------------------------------


def suite_files(paths: Iterable[str | Path]) -> list[Path]:
    """The suite files named by `paths`: files as given, folders as their *.yaml / *.yml files."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not found:
                raise ConvrecError(f"{path} holds no .yaml suite files.")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise ConvrecError(f"{path}: no such suite file or folder.")
    if not out:
        raise ConvrecError("Name at least one suite file or folder.")
    return list(dict.fromkeys(out))


def load_suite(path: str | Path) -> Suite:
    """Read and validate one suite file; a malformed one raises a `ConvrecError` whose one
    sentence names the file, the dialogue and the turn."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConvrecError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    except UnicodeDecodeError:
        raise ConvrecError(f"{path}: is not UTF-8 text.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConvrecError(f"{path}: is not valid YAML{where} ({problem}).") from None
    if not isinstance(raw, dict):
        raise ConvrecError(f"{path}: a suite is a mapping with a 'dialogues' list, not {type(raw).__name__}.")
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        raise ConvrecError(_validation_sentence(path, raw, exc)) from None
    suite.path = str(path)
    if not suite.suite:
        suite.suite = path.stem
    return suite


def _validation_sentence(path: Path, raw: dict[str, Any], exc: ValidationError) -> str:
    """One sentence for the first problem: file, dialogue, turn, field and what is wrong."""
    err = exc.errors()[0]
    loc = list(err.get("loc", ()))
    where = [str(path)]
    if len(loc) >= 2 and loc[0] == "dialogues" and isinstance(loc[1], int):
        idx = loc[1]
        dialogues = raw.get("dialogues") or []
        name = dialogues[idx].get("id") if idx < len(dialogues) and isinstance(dialogues[idx], dict) else None
        where.append(f"dialogue {name!r}" if name else f"dialogue #{idx + 1}")
        loc = loc[2:]
        if len(loc) >= 2 and loc[0] == "turns" and isinstance(loc[1], int):
            where.append(f"turn {loc[1] + 1}")
            loc = loc[2:]
    msg = str(err.get("msg", "is invalid"))
    msg = re.sub(r"^Value error, ", "", msg)
    if err.get("type") == "extra_forbidden":
        msg = "unknown field (check the spelling)"
    elif err.get("type") == "missing":
        msg = "is required"
    fieldname = ".".join(str(p) for p in loc)
    detail = f"{fieldname}: {msg}" if fieldname else msg
    return f"{', '.join(where)}: {detail.rstrip('.')}."


# --- resolving titles and facets against a catalog -----------------------------------------------


class TitleIndex:
    """Finds catalog items by title: exact (case/punctuation-insensitive), "Title (Year)" or "id:N"."""

    def __init__(self, catalog: Any) -> None:
        self.catalog = catalog
        self._by_title: dict[str, list[str]] = {}
        for item in catalog.items:
            self._by_title.setdefault(normalize_text(item.title), []).append(item.id)
            year = item.numeric.get("year")
            if year is not None:
                self._by_title.setdefault(normalize_text(f"{item.title} ({year:g})"), []).append(item.id)

    def resolve(self, ref: str) -> str:
        """The item id for a title reference; a `ConvrecError` when it matches none or several."""
        ref = str(ref).strip()
        if ref.lower().startswith("id:"):
            item_id = ref[3:].strip()
            if item_id not in self.catalog:
                raise ConvrecError(f"there is no item with id {item_id!r} in {self.catalog.name!r}")
            return item_id
        ids = list(dict.fromkeys(self._by_title.get(normalize_text(ref), [])))
        if len(ids) == 1:
            return ids[0]
        if not ids:
            from rapidfuzz import process

            close = process.extract(normalize_text(ref), list(self._by_title), limit=3, score_cutoff=70)
            hint = ""
            if close:
                names = [self.catalog.get(self._by_title[c[0]][0]).title for c in close]
                hint = " (did you mean " + " / ".join(dict.fromkeys(names)) + "?)"
            raise ConvrecError(f"no title {ref!r} in {self.catalog.name!r}{hint}")
        options = ", ".join(f"id:{i}" for i in ids[:5])
        raise ConvrecError(f"several items are titled {ref!r}; write 'Title (Year)' or one of {options}")


@dataclass
class ResolvedTurn:
    """A turn's title references as item ids, and its facet rules checked against the schema."""

    must_show: list[str] = field(default_factory=list)
    must_not_show: list[str] = field(default_factory=list)
    target: str | None = None
    like: list[str] = field(default_factory=list)
    dislike: list[str] = field(default_factory=list)
    rules: dict[str, FacetRule] = field(default_factory=dict)
    lists: list[tuple[int, dict[str, FacetRule]]] = field(default_factory=list)  # (items, rules) per list


def resolve_rules(every_item: dict[str, FacetRule], catalog: Any) -> dict[str, FacetRule]:
    """Facet rules checked against the catalog's schema, values in the catalog's spelling."""
    rules: dict[str, FacetRule] = {}
    for facet, rule in every_item.items():
        spec = catalog.schema.get(facet)
        if spec is None:
            known = ", ".join(f.name for f in catalog.schema.facets)
            raise ConvrecError(f"every_item: no facet {facet!r} in {catalog.name!r} (it has {known})")
        if rule.numeric and spec.kind != "numeric":
            raise ConvrecError(f"every_item.{facet}: min/max/not_between need a numeric facet; {facet!r} is categorical")
        if not rule.numeric and spec.kind != "categorical":
            raise ConvrecError(f"every_item.{facet}: all_of/any_of/none_of need a categorical facet; {facet!r} is numeric")
        if not rule.numeric:
            lookup = {normalize_text(v): v for v in spec.values}

            def canon(values: list[str], facet: str = facet, lookup: dict[str, str] = lookup) -> list[str]:
                out = []
                for v in values:
                    hit = lookup.get(normalize_text(v))
                    if hit is None:
                        raise ConvrecError(f"every_item.{facet}: {v!r} is not a {facet} value in {catalog.name!r}")
                    out.append(hit)
                return out

            rule = FacetRule(all_of=canon(rule.all_of), any_of=canon(rule.any_of), none_of=canon(rule.none_of))
        rules[facet] = rule
    return rules


def resolve_turn(turn: Turn, catalog: Any, titles: TitleIndex) -> ResolvedTurn:
    """Check a turn's facets and titles against `catalog`; raises `ConvrecError` with the problem."""
    exp = turn.expect
    return ResolvedTurn(
        must_show=[titles.resolve(t) for t in exp.must_show],
        must_not_show=[titles.resolve(t) for t in exp.must_not_show],
        target=titles.resolve(exp.target.ref) if exp.target else None,
        like=[titles.resolve(t) for t in turn.like],
        dislike=[titles.resolve(t) for t in turn.dislike],
        rules=resolve_rules(exp.every_item, catalog),
        lists=[(lst.items, resolve_rules(lst.every_item, catalog)) for lst in exp.lists],
    )


def resolve_dialogue(suite: Suite, dialogue: Dialogue, catalog: Any, titles: TitleIndex) -> list[ResolvedTurn]:
    out = []
    for n, turn in enumerate(dialogue.turns, 1):
        try:
            out.append(resolve_turn(turn, catalog, titles))
        except ConvrecError as exc:
            raise ConvrecError(f"{suite.path or suite.suite}, dialogue {dialogue.id!r}, turn {n}: {exc}.") from None
    return out


# --- checking one reply --------------------------------------------------------------------------


@dataclass
class Check:
    """One expectation and whether the reply met it."""

    kind: str
    passed: bool
    detail: str


@dataclass
class ConstraintTally:
    """Item × facet-rule checks: how many were made and how many held."""

    checked: int = 0
    satisfied: int = 0

    def add(self, other: ConstraintTally) -> None:
        self.checked += other.checked
        self.satisfied += other.satisfied

    @property
    def rate(self) -> float | None:
        return self.satisfied / self.checked if self.checked else None


def rule_holds(rule: FacetRule, facet: str, item: Any) -> bool:
    """Does catalog `item` meet `rule` on `facet`? Items with the facet unknown fail numeric rules."""
    if rule.numeric:
        value = item.numeric.get(facet)
        if value is None:
            return False
        outside = rule.not_between is None or not rule.not_between[0] <= value <= rule.not_between[1]
        return (rule.min is None or value >= rule.min) and (rule.max is None or value <= rule.max) and outside
    values = set(item.categorical.get(facet, ()))
    if rule.all_of and not set(rule.all_of) <= values:
        return False
    if rule.any_of and not set(rule.any_of) & values:
        return False
    return not (rule.none_of and set(rule.none_of) & values)


def _item_label(item: Any) -> str:
    year = item.numeric.get("year") if hasattr(item, "numeric") else None
    return f"{item.title} ({year:g})" if year is not None else item.title


def rule_checks(rules: dict[str, FacetRule], ids: Sequence[str], catalog: Any, tally: ConstraintTally,
                where: str = "every item") -> list[Check]:
    """One check per facet rule: every item of `ids` meets it (each item × rule counted in `tally`)."""
    checks = []
    for facet, rule in rules.items():
        failing = []
        for item_id in ids:
            if item_id not in catalog:
                continue
            item = catalog.get(item_id)
            ok = rule_holds(rule, facet, item)
            tally.checked += 1
            tally.satisfied += int(ok)
            if not ok:
                shown = item.numeric.get(facet) if rule.numeric else ", ".join(item.categorical.get(facet, ())) or "none"
                shown = f"{shown:g}" if isinstance(shown, float) else shown
                failing.append(f"{_item_label(item)} has {facet} {shown}")
        checks.append(Check(
            "every_item", not failing,
            f"{where}: {rule.describe(facet)}" + (f" — but {'; '.join(failing[:4])}" if failing else f" ({len(ids)} items)"),
        ))
    return checks


def check_reply(
    expect: Expect,
    resolved: ResolvedTurn,
    reply: Any,
    catalog: Any,
    hallucinated: Sequence[str] = (),
    earlier: Sequence[str] = (),
) -> tuple[list[Check], ConstraintTally]:
    """Every expectation of one turn against its `Reply` (`earlier`: item ids shown in the
    dialogue's earlier turns); plus the item × rule tally."""
    checks: list[Check] = []
    tally = ConstraintTally()
    items = list(reply.items)
    ids = [it.id for it in items]
    text = reply.text or ""
    low = text.casefold()

    checks.append(Check("replied", bool(text.strip()), "the reply has text" if text.strip() else "the reply is empty"))
    unknown = [i for i in ids if i not in catalog]
    bad_titles = list(hallucinated) + [f"id {i} (not in the catalog)" for i in unknown]
    checks.append(Check(
        "no_hallucinated_titles", not bad_titles,
        "no title outside the picks and the items referred to" if not bad_titles
        else "named " + "; ".join(repr(t) for t in bad_titles),
    ))

    if expect.min_items is not None:
        checks.append(Check("min_items", len(ids) >= expect.min_items,
                            f"{len(ids)} items, wanted at least {expect.min_items}"))
    if expect.max_items is not None:
        kind = "no_items" if expect.no_items else "max_items"
        checks.append(Check(kind, len(ids) <= expect.max_items, f"{len(ids)} items, wanted at most {expect.max_items}"))

    checks += rule_checks(resolved.rules, ids, catalog, tally)
    if resolved.lists:
        wanted = [n for n, _ in resolved.lists]
        checks.append(Check("lists", len(ids) == sum(wanted),
                            f"{len(ids)} items, wanted {' + '.join(map(str, wanted))} in {len(wanted)} lists"))
        start = 0
        for n, (size, rules) in enumerate(resolved.lists, 1):
            checks += rule_checks(rules, ids[start:start + size], catalog, tally, f"list {n}")
            start += size

    for item_id in resolved.must_show:
        title = _item_label(catalog.get(item_id))
        checks.append(Check("must_show", item_id in ids, f"{title} {'is' if item_id in ids else 'is not'} among the items"))
    for item_id in resolved.must_not_show:
        title = _item_label(catalog.get(item_id))
        checks.append(Check("must_not_show", item_id not in ids,
                            f"{title} {'is' if item_id in ids else 'is not'} among the items"))
    if resolved.target is not None and expect.target is not None:
        k = expect.target.k
        rank = ids.index(resolved.target) + 1 if resolved.target in ids else None
        title = _item_label(catalog.get(resolved.target))
        where = f"at rank {rank}" if rank else "not shown"
        checks.append(Check("target", rank is not None and rank <= k, f"{title} in the top {k}: {where}"))

    if expect.no_repeats:
        before = set(earlier)
        again = [i for i in ids if i in before]
        names = ", ".join(_item_label(catalog.get(i)) for i in again[:4] if i in catalog)
        checks.append(Check("no_repeats", not again, f"shown again: {names}" if again else "no item shown twice"))

    for needle in expect.text_contains:
        checks.append(Check("text_contains", needle.casefold() in low, f"reply contains {needle!r}"))
    for needle in expect.text_lacks:
        found = needle.casefold() in low
        checks.append(Check("text_lacks", not found, f"reply {'contains' if found else 'lacks'} {needle!r}"))

    if expect.relaxed is not None:
        relaxed = list(reply.relaxed or [])
        if isinstance(expect.relaxed, bool):
            ok = bool(relaxed) == expect.relaxed
            want = "something relaxed" if expect.relaxed else "nothing relaxed"
        else:
            ok = any(expect.relaxed.casefold() in r.casefold() for r in relaxed)
            want = f"relaxed {expect.relaxed!r}"
        checks.append(Check("relaxed", ok, f"{want}; relaxed: {', '.join(relaxed) or 'nothing'}"))

    labels = [c.label for c in reply.understood]
    joined = " | ".join(labels).casefold()
    for needle in expect.understood:
        checks.append(Check("understood", needle.casefold() in joined,
                            f"understood {needle!r}; understood: {', '.join(labels) or 'nothing'}"))
    for needle in expect.not_understood:
        checks.append(Check("not_understood", needle.casefold() not in joined,
                            f"did not understand {needle!r}; understood: {', '.join(labels) or 'nothing'}"))
    return checks, tally


# --- hallucinated titles -------------------------------------------------------------------------


class HallucinationCounter:
    """Titles a reply names that are neither among its picks nor items the person referred to.

    Uses the reply stage's own `TitleGuard` over the catalog's titles and facet vocabulary. Words
    the person wrote themselves are not held against the reply (the template quotes what is left of
    the request once its filters are taken out, e.g. 'una pelicula por favor')."""

    def __init__(self, catalog: Any) -> None:
        from convrec.agent.respond import TitleGuard

        vocabulary = [v for spec in catalog.schema.categorical if len(spec.values) <= 200 for v in spec.values]
        self.guard = TitleGuard((it.title for it in catalog.items), vocabulary)
        self.catalog = catalog

    def count(self, reply_text: str, allowed_ids: Iterable[str], user_text: str) -> list[str]:
        allowed = [self.catalog.get(i).title for i in dict.fromkeys(allowed_ids) if i in self.catalog]
        # Catalog titles the person named are theirs to mention back.
        allowed += self.guard.violations(user_text, [])
        said = f" {normalize_text(user_text)} "
        said_words = set(said.split())
        found: list[str] = []
        # Line by line, as the reply stage checks the LLM's lines: a Title-Case run must not join a
        # heading's last word to the next line's list number ("…Musical:\n\n1.").
        for line in reply_text.splitlines():
            if line.strip():
                found += [
                    t for t in self.guard.violations(line, allowed)
                    if f" {normalize_text(t)} " not in said and not _only_function_words(t)
                    # the person's own words, re-ordered, with common ones ("from the 80s too")
                    and not set(normalize_text(t).split()) - COMMON_WORDS <= said_words
                ]
        return list(dict.fromkeys(found))


# A span made only of these words and numbers names nothing ("From 1994 as asked" is a reason the
# template capitalizes, not a title), though the guard's Title-Case rule matches it.
_FUNCTION_WORDS = set(
    "from as in the a an of and or to for with on at by since before after between until up year years s".split()
)


def _only_function_words(span: str) -> bool:
    return all(w in _FUNCTION_WORDS or w.isdigit() for w in normalize_text(span).split())


def _state_refs(state: dict[str, Any]) -> list[str]:
    """Item ids the conversation refers to (similar-to, liked, disliked, rejected, in focus)."""
    refs: list[str] = []
    for key in ("similar_to", "liked", "disliked", "rejected"):
        refs += [str(i) for i in state.get(key) or []]
    if state.get("focus"):
        refs.append(str(state["focus"]))
    return refs


# --- running suites ------------------------------------------------------------------------------


@dataclass
class TurnResult:
    number: int
    message: str
    reply_text: str
    items: list[dict[str, str]]
    understood: list[str]
    relaxed: list[str]
    checks: list[Check]
    constraints: ConstraintTally
    hallucinated: list[str]
    seconds: float

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


@dataclass
class DialogueResult:
    suite: str
    id: str
    description: str
    tags: list[str]
    turns: list[TurnResult] = field(default_factory=list)
    error: str | None = None  # the agent refused with a ConvrecError (counts as a failure)

    @property
    def passed(self) -> bool:
        return self.error is None and all(t.passed for t in self.turns)

    @property
    def checks(self) -> list[Check]:
        return [c for t in self.turns for c in t.checks]


@dataclass
class SuiteResults:
    """The results of replaying one or more suites."""

    dialogues: list[DialogueResult]
    suites: list[dict[str, str]]
    llm: str
    seconds: float

    @property
    def passed(self) -> bool:
        return all(d.passed for d in self.dialogues)

    def constraint_tally(self) -> ConstraintTally:
        total = ConstraintTally()
        for d in self.dialogues:
            for t in d.turns:
                total.add(t.constraints)
        return total

    def summary(self) -> dict[str, Any]:
        tally = self.constraint_tally()
        checks = [c for d in self.dialogues for c in d.checks]
        by_kind: dict[str, dict[str, int]] = {}
        for c in checks:
            row = by_kind.setdefault(c.kind, {"checks": 0, "passed": 0})
            row["checks"] += 1
            row["passed"] += int(c.passed)
        by_tag: dict[str, dict[str, int]] = {}
        for d in self.dialogues:
            for tag in d.tags or ["untagged"]:
                row = by_tag.setdefault(tag, {"dialogues": 0, "passed": 0})
                row["dialogues"] += 1
                row["passed"] += int(d.passed)
        by_suite: dict[str, dict[str, int]] = {}
        for d in self.dialogues:
            row = by_suite.setdefault(d.suite, {"dialogues": 0, "passed": 0})
            row["dialogues"] += 1
            row["passed"] += int(d.passed)
        turns = [t for d in self.dialogues for t in d.turns]
        return {
            "dialogues": len(self.dialogues),
            "passed": sum(d.passed for d in self.dialogues),
            "turns": len(turns),
            "checks": len(checks),
            "checks_passed": sum(c.passed for c in checks),
            "constraint_checks": tally.checked,
            "constraint_satisfaction": tally.rate,
            "hallucinated_titles": sum(len(t.hallucinated) for t in turns),
            "errors": sum(d.error is not None for d in self.dialogues),
            "by_kind": by_kind,
            "by_tag": dict(sorted(by_tag.items())),
            "by_suite": by_suite,
            "turn_seconds": [round(t.seconds, 4) for t in turns],
            "llm": self.llm,
            "seconds": round(self.seconds, 2),
        }


class DialogueRunner:
    """Replays suites against an `Agent`, one fresh session per dialogue."""

    def __init__(self, agent: Any, progress: bool = False) -> None:
        self.agent = agent
        self.progress = progress
        self._counters: dict[str, HallucinationCounter] = {}
        self._titles: dict[str, TitleIndex] = {}

    def _catalog(self, name: str | None) -> tuple[Any, TitleIndex, HallucinationCounter]:
        scene = self.agent.scene(name)
        cat = scene.index.catalog
        if scene.name not in self._titles:
            self._titles[scene.name] = TitleIndex(cat)
            self._counters[scene.name] = HallucinationCounter(cat)
        return cat, self._titles[scene.name], self._counters[scene.name]

    def check_suites(self, suites: Sequence[Suite]) -> None:
        """Resolve every title and facet up front, so a typo fails before anything runs."""
        for suite in suites:
            cat, titles, _ = self._catalog(suite.catalog)
            for d in suite.dialogues:
                resolve_dialogue(suite, d, cat, titles)

    def run(self, suites: Sequence[Suite]) -> SuiteResults:
        self.check_suites(suites)
        started = time.perf_counter()
        jobs = [(s, d) for s in suites for d in s.dialogues]
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), desc="dialogues", unit="dialogue")
        out = []
        for suite, dialogue in jobs:
            out.append(self.run_dialogue(suite, dialogue))
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        llm = getattr(getattr(self.agent, "llm", None), "name", None) or ("none" if self.agent.llm is None else "yes")
        return SuiteResults(
            dialogues=out,
            suites=[{"suite": s.suite, "path": s.path, "description": s.description} for s in suites],
            llm=str(llm),
            seconds=time.perf_counter() - started,
        )

    def run_dialogue(self, suite: Suite, dialogue: Dialogue) -> DialogueResult:
        cat, titles, counter = self._catalog(suite.catalog)
        resolved = resolve_dialogue(suite, dialogue, cat, titles)
        result = DialogueResult(suite.suite, dialogue.id, dialogue.description, list(dialogue.tags))
        try:
            sid = self.agent.new_session(user_id=dialogue.user, catalog=suite.catalog)
        except ConvrecError as exc:
            result.error = f"could not start a session: {exc}"
            return result
        shown: list[str] = []
        said: list[str] = []
        for n, (turn, res) in enumerate(zip(dialogue.turns, resolved), 1):
            try:
                if turn.reset:
                    self.agent.reset(sid)
                for item_id in res.like:
                    self.agent.feedback(sid, item_id, 1)
                for item_id in res.dislike:
                    self.agent.feedback(sid, item_id, -1)
                message = turn.message
                t0 = time.perf_counter()
                reply = self.agent.chat(sid, message, catalog=suite.catalog)
                seconds = time.perf_counter() - t0
            except ConvrecError as exc:
                result.error = f"turn {n}: the agent refused with an error: {exc}"
                break
            said.append(message)
            ids = [it.id for it in reply.items]
            earlier = list(shown)
            shown += ids
            try:
                state = self.agent.sessions.get(sid).state or {}
            except ConvrecError:
                state = {}
            allowed = [*shown, *_state_refs(state), *res.like, *res.dislike, *reply.cited]
            hallucinated = counter.count(reply.text, allowed, " \n".join(said))
            checks, tally = check_reply(turn.expect, res, reply, cat, hallucinated, earlier)
            result.turns.append(TurnResult(
                number=n,
                message=message,
                reply_text=reply.text,
                items=[{"id": it.id, "title": it.title} for it in reply.items],
                understood=[c.label for c in reply.understood],
                relaxed=list(reply.relaxed),
                checks=checks,
                constraints=tally,
                hallucinated=hallucinated,
                seconds=seconds,
            ))
        return result


def run_suites(agent: Any, paths: Iterable[str | Path], progress: bool = False) -> SuiteResults:
    """Load the suites at `paths` (files or folders) and replay them against `agent`."""
    suites = [load_suite(p) for p in suite_files(paths)]
    return DialogueRunner(agent, progress=progress).run(suites)
