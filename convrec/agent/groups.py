"""Several lists in one message: "3 action movies from the 80s and 2 comedies from the 90s".

A message made of counted parts joined by "and", "plus", "then" or commas asks for one list per
part. `split_message` finds the parts (conservatively: every part opens with a count, and at least
one count is a number, so "a comedy and a drama" stays one wish for both genres). Shares said
without numbers split one list evenly: "some comedies and some action movies", "half westerns,
half comedies", "a mix of comedies and dramas" (plural nouns: "a mix of comedy and drama" and "half
comedy, half drama" are one film that is both), the first parts taking what is left over of the
list's length ("10 movies, half comedies and half dramas" are five of each). The scene's parser
reads each part alone (`Agent._read_parts`), and `share` completes them: what a part leaves unsaid
of a facet another part names it shares ("2 from the 90s" after "3 action movies from the 80s" are
action movies), and what any part refuses or asks of every item ("nothing violent", "the best")
holds for all. The agent finds each part's picks in turn, none repeated, and shows them as one
numbered list part by part.

The parts stay in the dialogue state (`DialogueState.groups`) for the next messages: "more",
"nothing violent", "only from the 90s" or "only the well rated ones" go to every part; a film to
be like ("more like #2"), starting over, or removing parts until one is left ends the split, and
the conversation goes on as one list. A message that names what only one part wants is aimed at
that part (`aimed_at`): "make the comedies from the 90s" changes the comedies and shows the other
list again as it was, "only the comedies" keeps them alone, "no westerns" keeps the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from convrec.agent.preferences import Preferences
from convrec.agent.rules import _NUMW, NUMBER_WORDS

#: How many each part asks for: a numeral or number word (one to ten, valued as the rules value
#: them); "a"/"an" only where another part counts
COUNT_WORDS = {**NUMBER_WORDS, "a couple of": 2, "a couple": 2, "a few": 3, "a": 1, "an": 1}
IMPLICIT = {"a", "an"}
MAX_PER_PART = 20
MAX_PARTS = 4
_COUNT = r"(?P<n>\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|a couple of|a couple|a few|an|a)"
# what opens a request before its first count: "can you recommend", "I'd like", "give me"
_LEAD = re.compile(
    r"^(?:(?:hey|hi|hello|ok|okay|so|please)[,!]?\s+)*"
    r"(?:(?:can|could|would|will) you (?:please )?(?:recommend|suggest|find|show|give|get|pick|list)(?: me)?\s+"
    r"|(?:please )?(?:recommend|suggest|find|show|give|get|pick|list)(?: me)?\s+"
    r"|i(?:'d| would) (?:like|love)(?: to (?:see|watch|read))?\s+|i (?:want|need)(?: to (?:see|watch|read))?\s+"
    r"|(?:i'?m |i am )?looking for\s+|how about\s+|what about\s+)?",
    re.IGNORECASE,
)
_START = re.compile(rf"{_COUNT}\s+(?=[a-z])", re.IGNORECASE)
_JOIN = re.compile(rf"\s*(?:,\s*(?:and|plus|then)?|;|\band\b|\bplus\b|&|\bthen\b)\s+(?={_COUNT}\s+[a-z])", re.IGNORECASE)
# a count that is no part's: "one of them", "2 more", "a couple more", "a bit", "a lot"
_NOT_A_PART = re.compile(r"^(?:of|or|to|more|less|bit|lot|little|while|couple|few|each)\b", re.IGNORECASE)
# Shares of one list (see the module docstring): the list's length said first ("10 movies:"), then
# "some …" / "half …" parts, or "a mix of …" with parts joined as counted ones are
_JOINER = r"(?:,\s*(?:and\s+|plus\s+)?|;\s*|\band\s+|\bplus\s+|&\s*)"  # between shares: ", ", " and ", "; ", " & "
_TOTAL = re.compile(rf"^(?P<n>{_NUMW})\s+(?:movies|films|picks|titles|books|ones)\b\s*(?:[:,;–—-]\s*|(?:with|that are)\s+)?",
                    re.IGNORECASE)
_SHARE = re.compile(rf"(?:^|\s*{_JOINER}|\s+)\b(?P<w>some|half)\s+(?=[a-z])", re.IGNORECASE)
_MIX = re.compile(r"^(?:a\s+|some\s+)?(?:mix|mixture|blend|combination)\s+of\s+(?=[a-z])", re.IGNORECASE)
_MIX_JOIN = re.compile(rf"\s*{_JOINER}", re.IGNORECASE)
# what goes on after the shares, for all of them: "…, nothing violent", "… and only from the 90s"
_FOR_ALL = re.compile(r"^(?:no|not|nothing|none|without|but|except|only|please|from|made|released)\b", re.IGNORECASE)
_NOT_PLURAL = {"this", "is", "was", "has", "as", "us", "less", "plus", "across", "its", "his", "yes", "thus"}


@dataclass
class Part:
    """One counted part of a message: its words (without the count) and how many it asks for."""

    text: str
    count: int
    explicit: bool  # said as a number, not "a"/"an"


def split_message(message: str, total: int = 5) -> list[Part] | None:
    """The parts of a message asking for several lists, or None for any other message. `total` is
    the length of a list shared without numbers ("some comedies and some dramas")."""
    text = " ".join(message.split())
    body = text[_LEAD.match(text).end():]  # type: ignore[union-attr]
    return _counted(body) or _shared(body, total)


def _counted(body: str) -> list[Part] | None:
    """"3 comedies and 2 dramas": parts that each open with a count, at least one a number."""
    if not _START.match(body):
        return None
    joins = list(_JOIN.finditer(body))
    if not joins or len(joins) >= MAX_PARTS:
        return None
    cuts = [0] + [m.end() for m in joins]
    ends = [m.start() for m in joins] + [len(body)]
    parts: list[Part] = []
    for start, end in zip(cuts, ends, strict=True):
        chunk = body[start:end].strip(" ,.;!?")
        m = _START.match(chunk)
        if m is None:
            return None
        raw = m.group("n").lower()
        rest = chunk[m.end():].strip()
        if not rest or _NOT_A_PART.match(rest):
            return None
        count = COUNT_WORDS.get(raw) or int(raw)
        if not 1 <= count <= MAX_PER_PART:
            return None
        parts.append(Part(rest, count, raw not in IMPLICIT))
    if not any(p.explicit for p in parts):
        return None  # "a comedy and a drama": one wish for both
    return parts


def _plural(text: str) -> bool:
    """The part names several things ("comedies", "action movies from the 90s"), not one kind."""
    return any(w.endswith("s") and not w.endswith("'s") and len(w) > 3 and w not in _NOT_PLURAL
               for w in re.findall(r"[a-z']+", text.lower())[:3])


def _shared(body: str, total: int) -> list[Part] | None:
    """"Some comedies and some dramas", "half westerns, half comedies", "a mix of comedies and
    dramas": one list of `total` (or the length said first) shared evenly among the parts."""
    m = _TOTAL.match(body)
    if m is not None:
        total, body = NUMBER_WORDS.get(m.group("n").lower()) or int(m.group("n")), body[m.end():]
    mix = _MIX.match(body)
    if mix is not None:
        chunks = _MIX_JOIN.split(body[mix.end():])
        words = {"mix"}
    else:
        cuts = list(_SHARE.finditer(body))
        if not cuts or cuts[0].start() != 0:
            return None
        chunks = [body[a.end():b.start() if b is not None else len(body)]
                  for a, b in zip(cuts, [*cuts[1:], None], strict=True)]
        words = {c.group("w").lower() for c in cuts}
    texts: list[str] = []
    for chunk in (c.strip(" ,.;!?") for c in chunks):
        if not chunk:
            return None
        if texts and _FOR_ALL.match(chunk):  # "…, nothing violent": said of every part
            texts[-1] = f"{texts[-1]}, {chunk}"
        else:
            texts.append(chunk)
    if not 2 <= len(texts) <= MAX_PARTS or len(texts) > total or any(_NOT_A_PART.match(t) for t in texts):
        return None
    if ("half" in words and len(texts) != 2) or (words & {"half", "mix"} and not all(map(_plural, texts))):
        return None  # "half comedy, half drama": one film that is both
    counts = [total // len(texts) + (i < total % len(texts)) for i in range(len(texts))]
    if max(counts) > MAX_PER_PART:
        return None
    return [Part(t, n, True) for t, n in zip(texts, counts, strict=True)]


def _wants(prefs: Preferences) -> bool:
    """The part names something to find (a facet value, a range, a film to be like)."""
    return bool(prefs.include_all or prefs.include_any or prefs.ranges or prefs.similar_to or prefs.related)


def share(read: list[Preferences]) -> list[Preferences] | None:
    """Complete each part with what the others say of every item, or None when the message is no
    real split: a part that names nothing to find, asks about a shown item or gives feedback
    ("2 like #3 and one more"), or parts that end up asking for the same."""
    if len(read) < 2 or any(not _wants(p) or set(p.acts) - {"reorder_shown"} or p.focus or p.liked or p.disliked
                            or p.rejected for p in read):
        return None
    out = [p.model_copy(deep=True) for p in read]
    for i, prefs in enumerate(out):
        others = [read[j] for j in sorted(range(len(read)), key=lambda j: (abs(j - i), j)) if j != i]
        wanted = set(prefs.include_all) | set(prefs.include_any)
        for other in others:  # the nearest part that names a facet lends it
            for facet in (set(other.include_all) | set(other.include_any)) - wanted:
                wanted.add(facet)
                for mode, values in (("all", other.include_all.get(facet)), ("any", other.include_any.get(facet))):
                    if values:
                        prefs.add_include(facet, list(values), mode, other.evidence.get(f"include:{facet}:{values[0]}", ""))
            for facet, rng in other.ranges.items():
                if facet not in prefs.ranges:
                    prefs.set_range(facet, rng, other.evidence.get(f"range:{facet}", ""))
        for j, other in enumerate(read):  # refusals and wishes about every item hold for all
            if j == i:
                continue
            for facet, values in other.exclude.items():
                prefs.add_exclude(facet, list(values), other.evidence.get(f"exclude:{facet}:{values[0]}", ""))
            for facet, holes in other.exclude_ranges.items():
                for hole in holes:
                    prefs.exclude_range(facet, hole)
            for trait, value in other.traits.items():
                prefs.traits.setdefault(trait, value)
            prefs.quality = prefs.quality or other.quality
            prefs.order = prefs.order or other.order  # "…, oldest first": each list in that order
            if other.avoid and other.avoid not in prefs.avoid:
                prefs.avoid = f"{prefs.avoid} {other.avoid}".strip()
            prefs.injection = prefs.injection or other.injection
    if len({_signature(p) for p in out}) < len(out):
        return None
    return out


def ends_split(prefs: Preferences) -> bool:
    """A message that ends a split: one about a film to be like ("more like #2", "by the director
    of Fargo") or one that starts over; every other goes to each group."""
    return bool(prefs.similar_to or prefs.related or "reset" in prefs.acts)


@dataclass
class Aim:
    """A message aimed at the groups of a split: which groups stay (`keep`, indices), the one the
    message changes (`target`; None: every kept group) and the message without the words that
    named the group."""

    keep: list[int]
    target: int | None
    prefs: Preferences


def _owners(groups: list[Any], facet: str, value: str) -> list[int]:
    return [i for i, g in enumerate(groups)
            if value in g.state.include_all.get(facet, []) or value in g.state.include_any.get(facet, [])]


def _says_more(prefs: Preferences) -> bool:
    return bool(prefs.include_all or prefs.include_any or prefs.exclude or prefs.ranges or prefs.exclude_ranges
                or prefs.shifts or prefs.query or prefs.avoid or prefs.traits or prefs.quality or prefs.lifted
                or prefs.widened or prefs.withdraw or prefs.allow or prefs.similar_to or prefs.related)


def aimed_at(prefs: Preferences, groups: list[Any]) -> Aim | None:
    """After "3 westerns and 2 comedies": "make the comedies from the 90s" names a value only one
    group wants, with something else: that group changes, the other is shown again as it was.
    "Only the comedies" names nothing else: that group alone stays. "No westerns" refuses what only
    one group wants: the others stay. None when the message is for every group ("now a horror
    movie", "nothing violent", "more")."""
    if len(groups) < 2:
        return None
    for facet, values in prefs.exclude.items():
        for value in values:
            owners = _owners(groups, facet, value)
            if len(owners) == 1 and not any(value in g.state.exclude.get(facet, []) for g in groups):
                return Aim([i for i in range(len(groups)) if i != owners[0]], None, prefs)
    named = [(facet, value) for group in (prefs.include_all, prefs.include_any)
             for facet, values in group.items() for value in values]
    for facet, value in named:
        owners = _owners(groups, facet, value)
        if len(owners) != 1:
            continue
        rest = prefs.model_copy(deep=True)
        for group in (rest.include_all, rest.include_any):
            if value in group.get(facet, []):
                group[facet].remove(value)
                if not group[facet]:
                    del group[facet]
        rest.evidence.pop(f"include:{facet}:{value}", None)
        rest.inferred = [k for k in rest.inferred if k != f"include:{facet}:{value}"]
        rest.replace = False  # "make the comedies from the 90s": the comedies stay, the years change
        if not _says_more(rest):
            return Aim([owners[0]], owners[0], rest)
        return Aim(list(range(len(groups))), owners[0], rest)
    return None


def _signature(prefs: Preferences) -> str:
    """What a part asks for, to tell parts apart."""
    return prefs.model_dump_json(include={"query", "include_all", "include_any", "ranges", "similar_to", "related"})


def merge_same(groups: list[Any]) -> list[Any]:
    """Groups whose states ask for the same (after "only comedies" made two groups alike) become one,
    showing as many as they did together."""
    out: list[Any] = []
    seen: dict[str, Any] = {}
    for group in groups:
        key = group.state.model_dump_json(include={"query", "include_all", "include_any", "exclude", "ranges",
                                                   "exclude_ranges", "similar_to", "related", "traits", "quality"})
        if key in seen:
            seen[key].count = min(MAX_PER_PART, seen[key].count + group.count)
            continue
        seen[key] = group
        out.append(group)
    return out
