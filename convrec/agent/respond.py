"""Reply writing: one short, grounded reason per pick, streamed, with a hallucination guard.

The LLM never sees the person's raw message here, only convrec's reading of it and the facts of
the ranked candidates, numbered. It is asked to write one line per pick ("#2: reason"); convrec
renders the titles itself. Every sentence the LLM writes is checked before it is shown: a title
that is not among the candidates (or the items the person referred to) removes the sentence, so
does a claim the pick's facts do not hold (a number, a year or a facet value such as a genre that
is not the pick's; `FactGuard`), and a pick without a usable line gets its data-drawn template
reason instead. With no LLM the whole reply comes from the template.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from convrec.agent.habits import unfamiliar_phrase
from convrec.ranking.paradigms.kg import PERSONAL_RELATIONS, RELATION_PHRASES
from convrec.retrieval.catalog import Item

# Cosine similarity of a pick's text to the request's free words (BERT sentence embeddings) for a
# reason to say it is "a close match for" them, and the least for "fits" them. Below that the words
# single nothing out (the nearest of 1,682 films to "matrix", unknown here, is at 0.27), so the
# reason says nothing about them.
CLOSE_SIMILARITY = 0.45
FITS_SIMILARITY = 0.35

# --- what the reply stage is given ---------------------------------------------------------------


@dataclass
class Pick:
    """One ranked candidate with what the ranker knows about it."""

    item: Item
    score: float
    parts: dict[str, float] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    why: str = ""  # filled by `template_reason`


@dataclass
class ReplyContext:
    """Everything a reply may draw on; nothing else reaches the LLM."""

    picks: list[Pick]
    understood: str  # convrec's reading as constraints only, e.g. "Sci-Fi; 1990–1999; not War" (no free text)
    query: str = ""  # the free-text part used for semantic search (already cleaned)
    include: dict[str, list[str]] = field(default_factory=dict)
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    relaxed: list[str] = field(default_factory=list)  # constraints dropped to find anything
    titles_by_id: dict[str, str] = field(default_factory=dict)  # referenced/liked items named in evidence
    notice: str = ""  # e.g. a refusal of an injected instruction, said before the picks
    compared: set[str] = field(default_factory=set)  # items asked about ("like Fargo"), not said to be liked
    # a message that asked for several lists: (picks shown, what they are for) per list, in order
    groups: list[tuple[int, str]] = field(default_factory=list)


# --- reasons from data ---------------------------------------------------------------------------


def _fmt_num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def rated_phrase(rated: dict[str, Any]) -> str:
    """'rated 4.2 on average by 508 people', from an `ItemQuality.evidence` entry."""
    return f"rated {float(rated['mean']):.1f} on average by {int(rated['ratings'])} people"


def and_list(parts: Sequence[str], last: str = "and") -> str:
    """'A', 'A and B', 'A, B and C' (or 'A, B or C' with `last` "or")."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" {last} " + parts[-1]


def or_list(parts: Sequence[str]) -> str:
    """'A', 'A or B', 'A, B or C'."""
    return and_list(parts, "or")


def counted(n: int, noun: str) -> str:
    """'1 nomination', '42 nominations', '1,682 titles'."""
    return f"{n:,} {noun}{'s' if n != 1 else ''}"


def awards_phrase(awards: dict[str, Any]) -> str:
    """'won 23 awards and had 42 nominations', from an awards evidence entry (graph counts)."""
    won, nominated = int(awards.get("won", 0)), int(awards.get("nominated", 0))
    if not won:
        return f"had {counted(nominated, 'nomination')}"
    return f"won {counted(won, 'award')}" + (f" and had {counted(nominated, 'nomination')}" if nominated else "")


def _request_match(item: Item, ctx: ReplyContext) -> str:
    """What of the request this item meets: 'Comedy and Sci-Fi from 1996'."""
    matched = [v for facet, wanted in ctx.include.items() for v in item.categorical.get(facet, ()) if v in wanted]
    text = " and ".join(dict.fromkeys(matched))
    for facet, (low, high) in ctx.ranges.items():
        value = item.numeric.get(facet)
        if value is not None and (low is not None or high is not None):
            bit = f"from {_fmt_num(value)}" if facet == "year" else f"{facet} {_fmt_num(value)}"
            text = f"{text} {bit}".strip()
    return text


def _evidence_phrase(pick: Pick, ctx: ReplyContext) -> str:
    """The strongest grounded reason beyond the request: the person's likes, then what others did."""
    by_kind: dict[str, dict[str, Any]] = {}
    for ev in pick.evidence:
        by_kind.setdefault(str(ev.get("kind")), ev)
    # present when the best rated, hidden gems, award winners or a change from the person's usual
    # were asked for, or free words single the item out
    asked = [phrase(by_kind[kind]) for kind, phrase in (("unfamiliar", unfamiliar_phrase), ("rated", rated_phrase),
                                                        ("awards", awards_phrase),
                                                        ("matches_words", lambda _: f"a close match for “{ctx.query}”"))
             if kind in by_kind and (kind != "matches_words" or ctx.query)]
    if asked:
        return "; ".join(asked)

    def named(item_id: Any) -> str:
        """The film a reason points at: 'Fargo, which you liked', or just 'Fargo' when the person
        only compared with it ("something like Fargo")."""
        title = ctx.titles_by_id[str(item_id)]
        return title if str(item_id) in ctx.compared else f"{title}, which you liked"

    kg = by_kind.get("kg")
    kg_reason = ""
    phrase = (kg.get("phrase") or RELATION_PHRASES.get(str(kg.get("relation")))) if kg else None
    if kg and phrase and ctx.titles_by_id.get(str(kg.get("liked_item"))):
        kg_reason = f"{phrase} {named(kg['liked_item'])}"
        if kg["relation"] in PERSONAL_RELATIONS or "phrase" in kg:  # the same series, director, …, or author
            return kg_reason
    co = by_kind.get("co_liked")
    if co and ctx.titles_by_id.get(str(co.get("liked_item"))) and int(co.get("users", 0)) >= 5:
        return f"{int(co['users'])} people who liked {ctx.titles_by_id[str(co['liked_item'])]} also liked it"
    if kg_reason:  # a producer, studio, subject or award in common
        return kg_reason
    similar = by_kind.get("similar_to_liked")
    if similar and float(similar.get("similarity", 0)) >= 0.35 and ctx.titles_by_id.get(str(similar.get("liked_item"))):
        return f"close to {named(similar['liked_item'])}"
    match = by_kind.get("matches_request")
    if match and ctx.query and float(match.get("similarity", 0)) >= CLOSE_SIMILARITY:
        return f"a close match for “{ctx.query}”"
    popular = by_kind.get("popular")
    if popular:
        return f"a crowd favourite ({int(popular['interactions'])} people rated it)"
    if "new_item" in by_kind:
        return "new here, picked from its description"
    if match and ctx.query and float(match.get("similarity", 0)) >= FITS_SIMILARITY:
        return f"fits “{ctx.query}”"
    return ""


def template_reason(pick: Pick, ctx: ReplyContext) -> str:
    """A short reason drawn only from the item's facts, its score parts and the ranker's evidence."""
    parts = [p for p in (_request_match(pick.item, ctx), _evidence_phrase(pick, ctx)) if p]
    if not parts:
        genres = next(iter(pick.item.categorical.values()), ())
        parts = [", ".join(genres[:3]) if genres else "a good match"]
    reason = "; ".join(parts)
    return reason[0].upper() + reason[1:]


def item_year(item: Item) -> str:
    """The item's year as written ("1965"), or "" when it has none."""
    year = item.numeric.get("year")
    return _fmt_num(year) if year is not None else ""


def item_headline(item: Item) -> str:
    year = item_year(item)
    return f"**{item.title}**" + (f" ({year})" if year else "")


def render_pick(rank: int, pick: Pick, reason: str) -> str:
    return f"{rank}. {item_headline(pick.item)} — {reason}\n"


def numbered(cards: Sequence[tuple[Item, str]]) -> str:
    """Items as a numbered list of headlines, each with its reason when it has one (an answer
    about the list shown: "why these?", "sort them by year", "show me my favourites")."""
    return "\n".join(f"{n}. {item_headline(it)}" + (f" — {why}" if why else "") for n, (it, why) in enumerate(cards, 1))


def template_reply(ctx: ReplyContext) -> Iterator[str]:
    """The reply with no LLM: deterministic, grounded, instant."""
    yield _opening(ctx)
    for rank, pick in enumerate(ctx.picks, 1):
        yield render_pick(rank, pick, pick.why or template_reason(pick, ctx))


def _for(understood: str) -> str:
    """What picks are for, after "picks": " like Pulp Fiction", " by the director of Fargo",
    " for Comedy; like Fargo", " that are not from 1970–1979", ", well rated"."""
    lead = understood.split(" ", 1)[0]
    if lead in ("well", "worst"):  # "picks, well rated", "picks, worst rated"
        return f", {understood}"
    return (f" {understood}" if lead in ("like", "by", "with", "in", "from")
            else f" that are {understood}" if lead == "not" else f" for {understood}")


def groups_phrase(ctx: ReplyContext) -> str:
    """The lists of a message that asked for several: "3 for Action; 1980–1989 (#1–3) and 2 like
    Heat (#4–5)"."""
    said, first = [], 1
    for n, label in ctx.groups:
        where = f"#{first}" if n == 1 else f"#{first}–{first + n - 1}"
        said.append(f"{n}{_for(label)} ({where})" if n else f"none{_for(label)}")
        first += n
    return and_list(said)


def _opening(ctx: ReplyContext) -> str:
    lines = []
    if ctx.notice:
        lines.append(ctx.notice)
    if ctx.relaxed:
        lines.append(f"Nothing matched everything, so I dropped {', '.join(ctx.relaxed)}.")
    if not ctx.picks:
        lines.append("I couldn't find anything that fits. Try fewer constraints, or tell me what you liked recently.")
    else:
        about = _for(ctx.understood) if ctx.understood and ctx.understood != "no filters" else ""
        if ctx.groups:
            # "Here are 5 picks: 3 for Action; 1980–1989 (#1–3) and 2 for Comedy; 1990–1999 (#4–5)."
            lines.append(f"Here are {len(ctx.picks)} picks{about}: {groups_phrase(ctx)}.")
        else:
            lines.append(f"Here {'is one pick' if len(ctx.picks) == 1 else f'are {len(ctx.picks)} picks'}{about}:")
    return "\n".join(lines) + "\n\n"


# --- the hallucination guard ---------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """Accents folded, case dropped, anything but letters and digits a single space: how titles
    are compared (here, and by the evaluation's counters)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


_QUOTED = re.compile(r"[\"“”«»]([^\"“”«»]{2,80})[\"“”«»]|\*{1,2}([^*]{2,80})\*{1,2}|_([^_]{2,80})_")
_BULLET = re.compile(r"^[ \t]*[-*•][ \t]+", re.MULTILINE)
_TITLECASE = re.compile(
    r"\b([A-Z][\w'’&:-]*(?:\s+(?:(?:of|the|and|in|on|a|an|to|&)\s+){0,2}[A-Z0-9][\w'’&:-]*){1,7})"
)


class TitleGuard:
    """Finds titles in LLM text that are not allowed: catalog titles outside the allowed set, and
    quoted or Title-Case spans that look like titles but are none of the allowed ones."""

    def __init__(self, catalog_titles: Iterable[str], vocabulary: Iterable[str] = ()) -> None:
        self._titles = {n for n in (normalize_text(t) for t in catalog_titles) if len(n) >= 4}
        self._max_words = max((len(t.split()) for t in self._titles), default=1)
        # Facet values and their glossary words are not titles, even in Title Case.
        self._vocab = {normalize_text(v) for v in vocabulary}
        self._vocab |= {w for v in self._vocab for w in v.split()}

    def violations(self, text: str, allowed_titles: Iterable[str]) -> list[str]:
        allowed_titles = [t for t in allowed_titles if t]
        allowed = {normalize_text(t) for t in allowed_titles}
        # Mentions of allowed titles are fine: take them out before looking for others.
        for title in sorted(allowed_titles, key=len, reverse=True):
            text = re.sub(re.escape(title), " · ", text, flags=re.IGNORECASE)
        text = _BULLET.sub("", text)  # a bullet point starts a sentence like a line does
        found: list[str] = []
        words = normalize_text(text).split()
        # 1) any catalog title (of two words or more, or a rare one-word title in Title Case)
        for size in range(min(self._max_words, len(words)), 0, -1):
            for start in range(0, len(words) - size + 1):
                span = " ".join(words[start : start + size])
                if span in self._titles and span not in allowed and not self._inside_allowed(span, allowed):
                    if size >= 2 or self._capitalized_in(text, span):
                        found.append(span)
        # 2) quoted / emphasised spans and Title-Case runs that are not allowed titles
        spans = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(text)]
        spans += [m.group(1) for m in _TITLECASE.finditer(text) if m.start() > 0 or len(m.group(1).split()) > 2]
        for span in spans:
            n = normalize_text(span)
            if not n or n in allowed or n in self._vocab:
                continue
            if all(w in self._vocab or w in COMMON_WORDS or w.isdigit() for w in n.split()):
                continue  # "Only 13 of the 636 …" (a count) is no title
            found.append(n)
        return list(dict.fromkeys(found))

    @staticmethod
    def _inside_allowed(span: str, allowed: set[str]) -> bool:
        return any(f" {span} " in f" {a} " for a in allowed)

    @staticmethod
    def _capitalized_in(text: str, span: str) -> bool:
        pattern = r"\b" + r"\W+".join(re.escape(w) for w in span.split()) + r"\b"
        match = re.search(pattern, text, flags=re.IGNORECASE)
        return bool(match and match.group(0)[:1].isupper() and match.start() > 0)


class FactGuard:
    """Claims in LLM text that the pick's facts do not hold. The LLM is given one facts line per
    pick, so a reason may only state what is in it:

    - numbers: each must appear in the facts line (the year, numeric facets, the counts in the
      known reason); a decade ("the 90s") must hold the pick's year;
    - facet values (genres and other categorical values of the catalog): each must be one of the
      pick's own;
    - a sentence that names another title (an item the person referred to) may not state a year:
      the LLM was never given that item's year, so it is either the pick's year misattributed
      ("Fargo was released in 1994") or outside knowledge;
    - how well it was rated ("a high rating", "critically acclaimed") needs a rating in the facts
      ("rated 4.1 on average"), and awards ("an Oscar winner") need the award counts: "a crowd
      favourite (394 people rated it)" says how many rated it, not how well.

    A sentence with such a claim is dropped; the pick then keeps its other sentences or, with none
    left, its template reason. Dropping a true sentence costs a plainer reason; keeping a false
    one costs the person's trust."""

    _NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)('?s\b)?")
    _RATING = re.compile(r"\b(?:(?:highly|high|well|top|best|critically)[- ](?:rated|ratings?|reviewed|acclaimed)"
                         r"|(?:rave|great|glowing) reviews?|acclaimed|masterpiece|critics? (?:love|loved|praised))\b", re.I)
    _AWARD = re.compile(r"\b(?:awards?|award-winning|oscars?|academy awards?|golden globes?|nominations?|nominated)\b",
                        re.I)

    def __init__(self, facet_values: dict[str, Iterable[str]]) -> None:
        self._values = {k for values in facet_values.values() for k in map(normalize_text, values) if len(k) >= 3}
        self._max_words = max((len(k.split()) for k in self._values), default=1)

    def unsupported(self, sentence: str, item: Item, facts: str, others: Iterable[str] = ()) -> list[str]:
        found: list[str] = []
        year = item.numeric.get("year")
        given = {self._plain(m.group(1)) for m in self._NUMBER.finditer(facts.replace(",", ""))}
        plain, title = f" {normalize_text(sentence)} ", normalize_text(item.title)
        names_other = any(o and o != title and f" {o} " in plain for o in map(normalize_text, others))
        for m in self._NUMBER.finditer(sentence.replace(",", "")):
            number, decade = self._plain(m.group(1)), bool(m.group(2))
            if decade:
                value = int(float(number))
                value = value + 1900 if value < 100 else value
                if year is None or int(year) // 10 * 10 != value or names_other:
                    found.append(m.group(0))
            elif number not in given or (names_other and 1800 <= float(number) <= 2100):
                found.append(number)
        for pattern, needs in ((self._RATING, ("on average",)), (self._AWARD, ("award", "nomination"))):
            claim = pattern.search(sentence)
            if claim and not any(n in facts for n in needs):
                found.append(claim.group(0).lower())
        words = plain.split()
        own = {normalize_text(v) for values in item.categorical.values() for v in values}
        for size in range(min(self._max_words, len(words)), 0, -1):
            for start in range(0, len(words) - size + 1):
                span = " ".join(words[start : start + size])
                if span in self._values and not any(f" {span} " in f" {o} " for o in own):
                    found.append(span)
        return list(dict.fromkeys(found))

    @staticmethod
    def _plain(number: str) -> str:
        return str(int(float(number))) if float(number).is_integer() else number


# Words that name no title on their own: a quoted span of these and facet values is no title claim
# (the hints "horror too", "romance is fine" that answers give; the state's notes "Replaced Comedy
# and Horror with Western.").
COMMON_WORDS = {
    "i", "you", "we", "it", "this", "that", "these", "here", "there", "they", "he", "she", "my", "your",
    "the", "a", "an", "of", "and", "in", "on", "to", "for", "with", "as", "its", "if", "also", "both",
    "pick", "picks", "film", "films", "movie", "movies", "book", "books", "classic", "great", "enjoy",
    "is", "too", "fine", "from", "replaced", "dropped", "kept", "added", "only", "none",
}


# --- the LLM reply ------------------------------------------------------------------------------

REPLY_SYSTEM = (
    "You are convrec, a friendly recommender. You are given numbered picks with their facts. "
    "Write one line per pick, in order, formatted exactly '#N: reason', where the reason is one short "
    "sentence (max 18 words) drawn only from that pick's facts. Never write titles; refer to picks only "
    "by number. Do not mention anything that is not in the facts."
)


_LEAK_WORDS = 5


@functools.lru_cache(maxsize=1)
def _instruction_grams() -> frozenset[str]:
    words = normalize_text(REPLY_SYSTEM).split()
    return frozenset(" ".join(words[i : i + _LEAK_WORDS]) for i in range(len(words) - _LEAK_WORDS + 1))


# The labels of the facts lines the LLM is given ("#2 facts: ...; year: 1991. Known reason: ..."):
# a sentence that copies them is scaffolding, not a reason.
_SCAFFOLD = re.compile(r"known reason|#\s*\d+ facts\b|\bfacts:", re.IGNORECASE)


def _echoes_instructions(sentence: str) -> bool:
    """True when a sentence repeats five words in a row of the system prompt (a leak), or copies
    the labels of the facts lines."""
    if _SCAFFOLD.search(sentence):
        return True
    words = normalize_text(sentence).split()
    grams = _instruction_grams()
    return any(" ".join(words[i : i + _LEAK_WORDS]) in grams for i in range(len(words) - _LEAK_WORDS + 1))


def _facts_line(n: int, pick: Pick, ctx: ReplyContext) -> str:
    item = pick.item
    facts = [f"{k}: {', '.join(v)}" for k, v in item.categorical.items() if v]
    facts += [f"{k}: {_fmt_num(v)}" for k, v in item.numeric.items()]
    # The person's own words never reach the LLM (they could carry instructions): the reason
    # shown to it is rebuilt without the free-text query.
    reason = template_reason(pick, replace(ctx, query=""))
    return f"#{n} facts: {'; '.join(facts)}. Known reason: {reason}."


def facts_lines(ctx: ReplyContext) -> list[str]:
    """One facts line per pick, in rank order: what the LLM is given, and so all a reason may state."""
    return [_facts_line(n, p, ctx) for n, p in enumerate(ctx.picks, 1)]


def reply_messages(ctx: ReplyContext, facts: list[str] | None = None) -> list[dict[str, str]]:
    lines = [f"Request (as understood): {ctx.understood or 'anything good'}."]
    if ctx.groups:
        lines.append(f"The picks come in groups: {groups_phrase(ctx)}.")
    lines += facts if facts is not None else facts_lines(ctx)
    return [{"role": "system", "content": REPLY_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


@dataclass
class GuardReport:
    removed_titles: list[str] = field(default_factory=list)
    removed_claims: list[str] = field(default_factory=list)  # numbers and facet values the pick's facts lack
    template_lines: int = 0  # picks whose line came from the template
    fell_back: bool = False  # the LLM failed entirely; the whole reply is the template


_LINE = re.compile(r"^\s*#?\s*(\d{1,2})\s*[:.)-]\s*(.+)$")


class ReplyWriter:
    """Streams a reply for a `ReplyContext`, with the LLM when one is given."""

    def __init__(self, llm: Any | None, guard: TitleGuard, max_tokens: int = 220, facts: FactGuard | None = None) -> None:
        self.llm = llm
        self.guard = guard
        self.facts = facts
        self.max_tokens = max_tokens

    def stream(self, ctx: ReplyContext, report: GuardReport | None = None) -> Iterator[str]:
        report = report if report is not None else GuardReport()
        for pick in ctx.picks:
            pick.why = pick.why or template_reason(pick, ctx)
        if self.llm is None or not ctx.picks:
            report.template_lines = len(ctx.picks)
            yield from template_reply(ctx)
            return
        yield _opening(ctx)
        allowed = [p.item.title for p in ctx.picks] + list(ctx.titles_by_id.values())
        facts = facts_lines(ctx)  # the prompt's lines, and what the fact guard checks against
        done: set[int] = set()
        try:
            buffer = ""
            for delta in self.llm.stream(reply_messages(ctx, facts), max_tokens=self.max_tokens):
                buffer += delta
                while "\n" in buffer:
                    line, buffer = buffer.split("\n", 1)
                    yield from self._emit(line, ctx, allowed, facts, done, report)
            if buffer.strip():
                yield from self._emit(buffer, ctx, allowed, facts, done, report)
        except Exception as exc:  # a dead server or a broken model must not lose the reply
            from convrec.errors import ConvrecError

            if not isinstance(exc, (ConvrecError, OSError, RuntimeError, ValueError)):
                raise
            report.fell_back = True
        # Every pick gets a line, in rank order, even if the LLM skipped it or its line was unsafe.
        for n, pick in enumerate(ctx.picks, 1):
            if n not in done:
                report.template_lines += 1
                done.add(n)
                yield render_pick(n, pick, pick.why)

    def _emit(
        self, line: str, ctx: ReplyContext, allowed: list[str], facts: list[str], done: set[int],
        report: GuardReport,
    ) -> Iterator[str]:
        match = _LINE.match(line)
        if not match:
            return  # chatter outside the '#N: reason' format is dropped
        n = int(match.group(1))
        if not 1 <= n <= len(ctx.picks) or n in done:
            return
        # Emit missing earlier picks first so the list stays in rank order.
        for earlier in range(1, n):
            if earlier not in done:
                done.add(earlier)
                report.template_lines += 1
                yield render_pick(earlier, ctx.picks[earlier - 1], ctx.picks[earlier - 1].why)
        pick = ctx.picks[n - 1]
        reason = self.clean_reason(match.group(2), allowed, report, pick.item, facts[n - 1])
        done.add(n)
        if not reason:
            report.template_lines += 1
            reason = pick.why
        yield render_pick(n, pick, reason)

    def clean_reason(
        self, text: str, allowed: Sequence[str], report: GuardReport, item: Item | None = None, facts: str = ""
    ) -> str:
        """Keep the sentences with no disallowed title, no claim the pick's `facts` lack (when a
        `FactGuard` is set and the pick is given) and nothing of the instructions; '' when nothing
        safe is left."""
        kept = []
        for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
            bad = self.guard.violations(sentence, allowed)
            if bad:
                report.removed_titles.extend(bad)
                continue
            claims = self.facts.unsupported(sentence, item, facts, allowed) if self.facts and item is not None else []
            if claims:
                report.removed_claims.extend(claims)
            elif sentence and not _echoes_instructions(sentence):
                kept.append(sentence)
        out = " ".join(kept).strip().strip("—-: ")
        if len(out) < 8 or len(out) > 220:
            return ""
        return out[0].upper() + out[1:]
