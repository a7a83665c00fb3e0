"""Facet-level scoring of preference parsing against a labeled set.

A reading is broken into units, one per atomic claim, and compared as sets:
`("include", facet, value)`, `("include_any", facet, value)`, `("exclude", facet, value)`,
`("low", facet, number)`, `("high", facet, number)`, `("similar"|"liked"|"disliked"|"rejected",
item_id)`, `("act", name)`, `("count", n)`, `("injection",)`. Precision, recall and F1 are
micro-averaged over all units of all cases; `exact` is the share of cases read exactly.

Cases are judged on the conversation state after their last message, so multi-turn cases test the
parser and `DialogueState` together (the same path the agent takes).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from convrec.agent.preferences import Preferences
from convrec.agent.state import DialogueState
from convrec.errors import ConvrecError
from convrec.retrieval.catalog import Catalog

Unit = tuple[Any, ...]
SCORED_ACTS = ("reset", "something_else", "show_more", "show_seen", "undo", "describe")


@dataclass
class PriorTurn:
    text: str
    shown: list[str] = field(default_factory=list)  # item ids shown after this turn


@dataclass
class ParseCase:
    """One labeled request: earlier turns, the message, and the expected units after it."""

    id: str
    text: str
    expected: set[Unit]
    prior: list[PriorTurn] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    query_has: list[str] = field(default_factory=list)


@dataclass
class CaseResult:
    case: ParseCase
    predicted: set[Unit]
    query: str
    seconds: float

    @property
    def tp(self) -> int:
        return len(self.predicted & self.case.expected)

    @property
    def fp(self) -> int:
        return len(self.predicted - self.case.expected)

    @property
    def fn(self) -> int:
        return len(self.case.expected - self.predicted)

    @property
    def exact(self) -> bool:
        return self.predicted == self.case.expected


@dataclass
class Scores:
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    cases: int
    exact: float

    def as_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


# --- loading ---------------------------------------------------------------------------------------
def _title_index(catalog: Catalog) -> dict[str, list[str]]:
    index: dict[str, list[str]] = defaultdict(list)
    for item in catalog:
        index[item.title.casefold()].append(item.id)
    return index


def _item_id(ref: str, index: dict[str, list[str]], catalog: Catalog, where: str) -> str:
    ref = str(ref)
    if ref.startswith("id:"):
        item_id = ref[3:]
        if item_id not in catalog:
            raise ConvrecError(f"{where}: no item with id {item_id!r}.")
        return item_id
    ids = index.get(ref.casefold(), [])
    if len(ids) != 1:
        problem = "no item titled" if not ids else f"{len(ids)} items titled"
        raise ConvrecError(f"{where}: {problem} {ref!r}; write it as id:N.")
    return ids[0]


def expected_units(expect: dict[str, Any], resolve: Callable[[str], str]) -> set[Unit]:
    """The units a case's `expect` block describes (titles resolved to ids by `resolve`)."""
    units: set[Unit] = set()
    for kind in ("include", "include_any", "exclude"):
        for facet, values in (expect.get(kind) or {}).items():
            values = list(values)
            # one value "any" is the same wish as one value "all"
            k = "include" if kind == "include_any" and len(values) == 1 else kind
            units.update((k, facet, str(v)) for v in values)
    for facet, (low, high) in (expect.get("ranges") or {}).items():
        if low is not None:
            units.add(("low", facet, float(low)))
        if high is not None:
            units.add(("high", facet, float(high)))
    for role in ("similar", "liked", "disliked", "rejected"):
        units.update((role, resolve(t)) for t in expect.get(role) or [])
    units.update(("act", a) for a in expect.get("acts") or [])
    if expect.get("count"):
        units.add(("count", int(expect["count"])))
    if expect.get("injection"):
        units.add(("injection",))
    return units


def load_cases(path: str | Path, catalog: Catalog) -> list[ParseCase]:
    """Read a labeled YAML set; titles are resolved to ids against `catalog` (errors name the case)."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    index = _title_index(catalog)
    cases = []
    seen: set[str] = set()
    for n, entry in enumerate(raw):
        cid = str(entry.get("id") or f"case-{n}")
        if cid in seen:
            raise ConvrecError(f"{path}: case id {cid!r} is used twice.")
        seen.add(cid)

        def resolve(title: str, cid: str = cid) -> str:
            return _item_id(title, index, catalog, f"{path} case {cid}")

        prior = [PriorTurn(str(t["text"]), [resolve(s) for s in t.get("shown") or []])
                 for t in entry.get("prior") or []]
        expect = entry.get("expect") or {}
        cases.append(ParseCase(
            id=cid,
            text=str(entry["text"]),
            expected=expected_units(expect, resolve),
            prior=prior,
            tags=list(entry.get("tags") or []),
            query_has=[str(w) for w in expect.get("query_has") or []],
        ))
    return cases


# --- reading a state into units --------------------------------------------------------------------
def state_units(state: DialogueState, last: Preferences) -> set[Unit]:
    """The units of a conversation state after a message (acts, count and injection from the message)."""
    units: set[Unit] = set()
    for facet, values in state.include_all.items():
        units.update(("include", facet, v) for v in values)
    for facet, values in state.include_any.items():
        k = "include" if len(values) == 1 else "include_any"
        units.update((k, facet, v) for v in values)
    for facet, values in state.exclude.items():
        units.update(("exclude", facet, v) for v in values)
    for facet, rng in state.ranges.items():
        if rng.low is not None:
            units.add(("low", facet, float(rng.low)))
        if rng.high is not None:
            units.add(("high", facet, float(rng.high)))
    for role, ids in (("similar", state.similar_to), ("liked", state.liked), ("disliked", state.disliked),
                      ("rejected", state.rejected)):
        units.update((role, i) for i in ids)
    units.update(("act", a) for a in last.acts if a in SCORED_ACTS)
    if last.count:
        units.add(("count", int(last.count)))
    if last.injection:
        units.add(("injection",))
    return units


def run_case(parse: Callable[[str], Preferences], case: ParseCase, catalog: Catalog | None = None) -> CaseResult:
    """Play a case's turns through `parse` and a fresh `DialogueState`; return the reading."""
    state = DialogueState()
    for turn in case.prior:
        state.apply(parse(turn.text), catalog)
        if turn.shown:
            state.record_shown(turn.shown)
    t0 = time.perf_counter()
    prefs = parse(case.text)
    seconds = time.perf_counter() - t0
    state.apply(prefs, catalog)
    return CaseResult(case=case, predicted=state_units(state, prefs), query=state.query, seconds=seconds)


# --- scoring ---------------------------------------------------------------------------------------
def score(results: Iterable[CaseResult]) -> Scores:
    """Micro-averaged unit precision/recall/F1 and the exact-match rate."""
    results = list(results)
    tp = sum(r.tp for r in results)
    fp = sum(r.fp for r in results)
    fn = sum(r.fn for r in results)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    exact = sum(r.exact for r in results) / len(results) if results else 0.0
    return Scores(precision, recall, f1, tp, fp, fn, len(results), exact)


def score_by_tag(results: Iterable[CaseResult]) -> dict[str, Scores]:
    groups: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        for tag in r.case.tags or ["untagged"]:
            groups[tag].append(r)
    return {tag: score(rs) for tag, rs in sorted(groups.items())}


def score_by_unit_kind(results: Iterable[CaseResult]) -> dict[str, Scores]:
    """Scores per unit kind (include, exclude, low/high, similar, act, ...)."""
    results = list(results)
    kinds = sorted({u[0] for r in results for u in r.predicted | r.case.expected})
    out = {}
    for kind in kinds:
        tp = sum(len({u for u in r.predicted & r.case.expected if u[0] == kind}) for r in results)
        fp = sum(len({u for u in r.predicted - r.case.expected if u[0] == kind}) for r in results)
        fn = sum(len({u for u in r.case.expected - r.predicted if u[0] == kind}) for r in results)
        p = tp / (tp + fp) if tp + fp else 1.0
        rc = tp / (tp + fn) if tp + fn else 1.0
        f = 2 * p * rc / (p + rc) if p + rc else 0.0
        out[kind] = Scores(p, rc, f, tp, fp, fn, len(results), float("nan"))
    return out


def query_recall(results: Iterable[CaseResult]) -> float | None:
    """Share of `query_has` words that ended up in the search text (None when no case asks)."""
    hits = total = 0
    for r in results:
        for word in r.case.query_has:
            total += 1
            hits += word.casefold() in r.query.casefold().split()
    return hits / total if total else None


def failures(results: Iterable[CaseResult], limit: int | None = None) -> list[dict[str, Any]]:
    """The cases not read exactly, with what was missed and what was added."""
    out = []
    for r in results:
        if r.exact:
            continue
        out.append({
            "id": r.case.id,
            "text": r.case.text,
            "missed": sorted(map(str, r.case.expected - r.predicted)),
            "extra": sorted(map(str, r.predicted - r.case.expected)),
        })
    return out[:limit] if limit else out


def evaluate(
    parse: Callable[[str], Preferences], cases: list[ParseCase], catalog: Catalog | None = None
) -> dict[str, Any]:
    """Run every case and report overall, per-tag and per-unit-kind scores plus the failures."""
    results = [run_case(parse, c, catalog) for c in cases]
    overall = score(results)
    seconds = sorted(r.seconds for r in results)
    return {
        "overall": overall.as_dict(),
        "by_tag": {t: s.as_dict() for t, s in score_by_tag(results).items()},
        "by_unit": {k: {kk: vv for kk, vv in s.as_dict().items() if kk != "exact"}
                    for k, s in score_by_unit_kind(results).items()},
        "query_recall": query_recall(results),
        "parse_s_p50": seconds[len(seconds) // 2] if seconds else None,
        "parse_s_p95": seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))] if seconds else None,
        "failures": failures(results),
        "results": results,
    }
