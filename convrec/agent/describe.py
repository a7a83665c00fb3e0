"""Answering a question about one item: "tell me more about #3", "why the second one?", "is #2
funny?", "what is Fargo?"; and about the list just shown: "which of these is the best?".

Such a turn shows no new list and changes no constraint. The answer is a template over grounded
data only (no LLM, so nothing in it can be made up):
- the item's facts (year and facet values);
- for a yes/no question about facet values ("is #2 funny?" reads Comedy), whether the item has them;
- why it was picked, when it was in the last list (the reason that list gave);
- how people rated it (the catalog's ratings);
- what else in the catalog shares its series, director, writer or cast (the knowledge graph,
  which links people to items without naming them);
- the items most like it (the ranker's item-to-item blend).

Every title it names is a catalog title; `ItemAbout.cited` lists their ids for the title guard and
the evaluation's hallucination count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from convrec.agent.respond import and_list, awards_phrase, counted, item_headline, item_year, numbered, rated_phrase
from convrec.errors import UnknownItemError
from convrec.retrieval.catalog import Catalog, Item

# Relations worth telling about an item, in order, with how to say them.
RELATED_LINES = (
    ("same_series", "In the same series here"),
    ("directed_by", "Also by its director"),
    ("written_by", "Also by its writer"),
    ("actor", "Its cast also appears in"),
)
RELATED_SHOWN = 3  # titles per line
_ARTICLE = re.compile(r"^(?:the|a|an) ")  # set aside when sorting titles
SIMILAR_SHOWN = 3


@dataclass
class ItemAbout:
    """What the answer says about one item, and the ids of the other items it names."""

    item: Item
    text: str
    cited: list[str] = field(default_factory=list)
    why: str = ""  # the reason the last list gave for it, if it was in it


def _sentence(text: str) -> str:
    """Ends `text` with one full stop ("When Harry Met Sally..." keeps its own)."""
    return text if text.endswith((".", "!", "?")) else text + "."


def _values_line(item: Item) -> str:
    bits = [", ".join(values) for values in item.categorical.values() if values]
    lead = item_headline(item)
    return f"{lead}: {'; '.join(bits)}." if bits else f"{lead}."


def trait_answers(item_id: str, asked: dict[str, str], awards: dict[str, tuple[int, int]] | None = None,
                  renown: Any = None, foreign: Any = None) -> list[str]:
    """Answers to yes/no questions about traits (see `preferences.TRAITS`), from the data each
    needs (a `Scene`'s `awards`, `renown` and `foreign`): "did #1 win any awards?", "is it
    popular?", "is it a foreign film?"."""
    out = []
    if "awards" in asked and awards is not None:
        won, nominated = awards.get(item_id, (0, 0))
        out.append(f"Yes: by the knowledge graph, it {awards_phrase({'won': won, 'nominated': nominated})}." if won
                   else f"No win that the knowledge graph knows of, but {counted(nominated, 'nomination')}." if nominated
                   else "Not that the knowledge graph knows of: it lists no award or nomination for it.")
    if "renown" in asked and renown is not None:
        well = not renown.lesser_known(item_id)
        wanted = asked["renown"] == "well_known"
        said = (f"{renown.count.get(item_id, 0):,} of the {renown.people:,} people here rated it; the well known "
                f"have at least {renown.min_count:,}.")
        out.append(f"{'Yes' if well == wanted else 'No'}: it is {'well' if well else 'lesser'} known here. {said}")
    if "language" in asked and foreign is not None:
        if item_id not in foreign.known:
            out.append("The knowledge graph gives no language for it, so I can't say.")
        else:  # "is it a foreign film?" (foreign), "is it in English?" (native)
            other = item_id in foreign.ids
            said = "not in" if other else "in"
            yes = other == (asked["language"] == "foreign")
            out.append(f"{'Yes' if yes else 'No'}: by the knowledge graph, it is {said} the language most films here are in.")
    return out


def rating_answer(item_id: str, quality: Any) -> str:
    """'Is it any good?': its rating against the catalog's average, or what the catalog lacks."""
    if quality is None:
        return "This catalog has no ratings, so I can't say how well liked it is."
    rated = quality.evidence(item_id)
    if rated is None:
        return "Nobody here has rated it yet."
    mean, prior = float(rated["mean"]), quality.prior_mean
    side = "above" if mean > prior + 0.05 else "below" if mean < prior - 0.05 else "about"
    return (f"People here rated it {mean:.1f} on average ({int(rated['ratings']):,} ratings), {side} this catalog's "
            f"average of {prior:.1f}.")


def _asked_answer(item: Item, asked: dict[str, list[str]]) -> str:
    """'Yes: it is listed as Comedy.' / 'Not by its listing: it is Crime, Drama and Thriller.'"""
    lines = []
    for facet, values in asked.items():
        own = list(item.categorical.get(facet, ()))
        has = [v for v in values if v in own]
        if has:
            lines.append(f"Yes: it is listed as {and_list(has)}.")
        else:
            listing = and_list(own) if own else "nothing"
            lines.append(f"Not by its listing: it is {listing}, not {and_list(values)}.")
    return " ".join(lines)


def _titles(catalog: Catalog, ids: Sequence[str]) -> str:
    """The titles of `ids` as a list in a sentence, with the year where two share a title ("That
    Darn Cat! (1965) and That Darn Cat! (1997)")."""
    items = [catalog.get(i) for i in ids]
    twice = {t for t in (it.title for it in items) if sum(it.title == t for it in items) > 1}
    return and_list([f"{it.title} ({item_year(it)})" if it.title in twice and item_year(it) else it.title
                     for it in items])


def describe_item(
    catalog: Catalog,
    item_id: str,
    ranker: Any,
    quality: Any = None,
    asked: dict[str, list[str]] | None = None,
    why: str = "",
    unknown: Sequence[str] = (),
    who: bool = False,
    awards: dict[str, tuple[int, int]] | None = None,
    answers: Sequence[str] = (),
    good_asked: bool = False,
    awards_answered: bool = False,
) -> ItemAbout:
    """The answer about `item_id` (see the module docstring). `ranker` may lack any of
    `related_items` / `similar_items` / `counts_` (another catalog's or an untrained one): those
    lines are then left out. `asked` are facet values the question named; `why` is the reason the
    last list gave for this item, if it was in it; `unknown` are sentences for what the question
    asked that the catalog has no data on ("This catalog has no running times."); `who` says the
    question asked who made it, which the catalog cannot name; `awards` are the knowledge graph's
    award counts per item (`Scene.awards`), if any; `answers` are sentences that answer a
    yes/no question about a trait ("did #1 win any awards?", "is it popular?"), said first;
    `good_asked` says the question asked how good it is ("is it any good?"); `awards_answered` says
    `answers` already hold the awards, so the bullet that gives them is left out."""
    item = catalog.get(item_id)
    head = " ".join([_values_line(item), *([_asked_answer(item, asked)] if asked else []), *answers])
    lines: list[str] = []  # the points, one bullet each
    cited: list[str] = []
    if why:
        # "A crowd favourite" reads on in lower case; a facet value ("Sci-Fi; …") keeps its capital
        names = {v for values in item.categorical.values() for v in values}
        first = why if any(why.startswith(v) for v in names) else why[0].lower() + why[1:]
        lines.append(_sentence(f"I suggested it because: {first}"))
    rated = quality.evidence(item_id) if quality is not None else None
    if good_asked:  # "is it any good?": the answer leads
        head += " " + rating_answer(item_id, quality)
    elif rated:
        lines.append(rated_phrase(rated).capitalize() + ".")
    won, nominated = awards.get(item_id, (0, 0)) if awards is not None else (0, 0)
    if (won or nominated) and not awards_answered:
        lines.append(_sentence(f"By the knowledge graph, it {awards_phrase({'won': won, 'nominated': nominated})}"))

    def popular_first(ids: Sequence[str]) -> list[str]:
        counts = getattr(ranker, "counts_", None)
        index = getattr(getattr(getattr(ranker, "data", None), "train", None), "item_index", {})
        known = [i for i in ids if i in catalog and i != item_id and i not in cited]
        if counts is None:
            return known
        return sorted(known, key=lambda i: -float(counts[index[i]]) if i in index else 0.0)

    related = getattr(ranker, "related_items", None)
    people = 0
    if related is not None:
        for relation, label in RELATED_LINES:
            ids = popular_first(related(item_id, relation) or [])[:RELATED_SHOWN]
            if ids:
                lines.append(_sentence(f"{label}: {_titles(catalog, ids)}"))
                cited += ids
                people += relation != "same_series"
    if who:  # "who directed #1?"
        unknown = [*unknown, "This catalog links titles to the people who made them without their names, so I can't "
                   "name them; below is what they also made." if people else "This catalog does not say who made it."]
    similar = getattr(ranker, "similar_items", None)
    if similar is not None:
        try:
            ids = [i for i, _ in similar(item_id, k=SIMILAR_SHOWN + len(cited) + 1)]
        except UnknownItemError:  # an item the ranker never saw: no neighbours to tell
            ids = []
        ids = [i for i in ids if i in catalog and i != item_id and i not in cited][:SIMILAR_SHOWN]
        if ids:
            lines.append(_sentence(f"Most like it here: {_titles(catalog, ids)}"))
            cited += ids
    # Markdown paragraphs and a bullet list (the chat page renders it; a terminal reads it as is);
    # no quotes in the last line: a quoted phrase reads as a title to the title guard
    bullets = "\n".join(f"- {line}" for line in lines)
    text = "\n\n".join(p for p in (*unknown, head, bullets, "Ask for more like it to see similar ones.") if p)
    return ItemAbout(item=item, text=text, cited=cited, why=why)


# How a shared knowledge-graph relation reads when comparing two items
SHARED_LINES = (
    ("same_series", "They are in the same series"),
    ("directed_by", "They share a director"),
    ("written_by", "They share a writer"),
    ("actor", "They share an actor"),
)
COMPARED_MAX = 4  # items one comparison takes


def compare_items(catalog: Catalog, item_ids: Sequence[str], ranker: Any, quality: Any = None) -> str:
    """"Compare #1 and #2", "which is better, Alien or Aliens?": the items side by side from
    grounded data only (their facts, what they share and what only one has, their ratings, the
    knowledge graph's shared people, how many people liked both), and which is rated higher."""
    items = [catalog.get(i) for i in list(dict.fromkeys(item_ids))[:COMPARED_MAX]]
    names = [f"**{it.title}**" for it in items]
    lines: list[str] = []
    for facet in catalog.schema.facets:
        if facet.kind != "categorical":
            continue
        values = [list(it.categorical.get(facet.name, ())) for it in items]
        if not any(values):
            continue
        shared = [v for v in values[0] if all(v in vs for vs in values[1:])]
        parts = [f"{'Both are' if len(items) == 2 else 'All are'} {and_list(shared)}"] if shared else []
        for it, vs in zip(items, values, strict=True):
            own = [v for v in vs if v not in shared]
            if own:  # of two, what one has the other lacks; of more, what each has beyond the shared
                parts.append(f"only {it.title} is {and_list(own)}" if len(items) == 2
                             else f"{it.title} is {'also ' if shared else ''}{and_list(own)}")
        if parts:
            lines.append(_sentence(f"{facet.display.capitalize()}: " + "; ".join(parts)))
    for facet in catalog.schema.facets:
        if facet.kind == "numeric":
            known = [(it.title, it.numeric[facet.name]) for it in items if facet.name in it.numeric]
            if len(known) > 1:
                lines.append(_sentence(f"{facet.display.capitalize()}: "
                                       + ", ".join(f"{title} {value:g}" for title, value in known)))
    rated = [(it, quality.evidence(it.id)) for it in items] if quality is not None else []
    if rated and all(r for _, r in rated):
        lines.append(_sentence("Ratings: " + "; ".join(f"{it.title} {rated_phrase(r)}" for it, r in rated)))
    related = getattr(ranker, "related_items", None)
    if related is not None and len(items) == 2:
        for relation, said in SHARED_LINES:
            if items[1].id in (related(items[0].id, relation) or []):
                lines.append(_sentence(said))
    both = getattr(ranker, "co_liked", None)
    if both is not None and len(items) == 2:
        n = both(items[0].id, items[1].id)
        if n:
            lines.append(_sentence(f"{n:,} people who liked one also liked the other" if n != 1 else "One person liked both"))
    head = f"{and_list(names)}, side by side:"
    if rated and all(r for _, r in rated):
        # by the averages as shown (one decimal): 4.0 against 4.0 is a tie, whatever the decimals after
        means = [round(float(r["mean"]), 1) for _, r in rated]
        best = max(range(len(items)), key=lambda n: means[n])
        if means.count(means[best]) == 1:
            lines.append(_sentence(f"Rated highest: {items[best].title}" if len(items) > 2
                                   else f"Rated higher: {items[best].title} (by the catalog's ratings, not by taste)"))
        else:
            lines.append(_sentence("Rated " + ("the same" if len(set(means)) == 1 else "highest: "
                                               + and_list([it.title for it, m in zip(items, means, strict=True)
                                                           if m == means[best]]))
                                   + " on average"))
    bullets = "\n".join(f"- {line}" for line in lines)
    return f"{head}\n\n{bullets}\n\nAsk for more like either to see similar ones."


@dataclass
class ShownRanked:
    """The last list, best rated first, with the answer's text and each item's reason."""

    text: str
    items: list[Item]
    why: list[str]


def best_of_shown(catalog: Catalog, shown: Sequence[str], quality: Any = None, worst: bool = False,
                  keep: int | None = None) -> ShownRanked:
    """'Which of these is the best?': the items just shown, ordered by how well people rated them
    (the catalog's ratings, shrunk toward its mean so a few ratings prove little); with `worst`
    ("which of these is the worst?"), the worst rated first; `keep` ("top 3 of those"): only that
    many. Without ratings, the list keeps its order and the answer says why."""
    items = [catalog.get(i) for i in shown if i in catalog]
    side = "worst" if worst else "best"
    if quality is None:
        text = f"This catalog has no ratings, so I can't tell which is {side}; here they are in the order I'd pick them."
        return ShownRanked(text, items[:keep], [""] * len(items[:keep]))
    items.sort(key=lambda it: quality.of(it.id) if worst else -quality.of(it.id))
    items = items[:keep]
    why = []
    for it in items:
        rated = quality.evidence(it.id)
        why.append(rated_phrase(rated).capitalize() if rated else "Not rated here yet")
    lead = f"Of these, the {side} rated is **{items[0].title}** ({why[0][0].lower() + why[0][1:]})."
    rest = [f"**{it.title}**" for it in items[1:3]]
    text = lead + (f" Then {and_list(rest)}." if rest else "")
    return ShownRanked(text, items, why)


def order_items(items: Sequence[Item], order: str, counts: dict[str, int] | None = None) -> list[Item]:
    """Items in the `order` a person asked for: "YEARFACET:asc" / ":desc" (an item without the
    value last), "popular" (most interactions first; "popular:asc" fewest first), "title"
    (alphabetical, leading articles aside) or "shown" (as they are). An order the catalog cannot
    give keeps the order."""
    key, _, direction = order.partition(":")
    if key == "shown":
        return list(items)
    if key == "title":
        return sorted(items, key=lambda it: _ARTICLE.sub("", it.title.casefold()))
    if key == "popular":
        if not counts:
            return list(items)
        return sorted(items, key=lambda it: counts.get(it.id, 0) * (1 if direction == "asc" else -1))
    known = [it for it in items if key in it.numeric]
    known.sort(key=lambda it: it.numeric[key], reverse=direction == "desc")
    return known + [it for it in items if key not in it.numeric]


def order_phrase(order: str) -> str:
    """'year:asc' → 'by year, oldest first'; 'popular' → 'most widely seen first'; 'title' → 'alphabetically'."""
    key, _, direction = order.partition(":")
    if key == "shown":
        return "as before"
    if key == "title":
        return "alphabetically"
    if key == "popular":
        return "least widely seen first" if direction == "asc" else "most widely seen first"
    return f"by {key}, {'newest' if direction == 'desc' else 'oldest'} first"


def reorder_shown(catalog: Catalog, shown: Sequence[str], order: str, counts: dict[str, int] | None,
                  reasons: dict[str, str], which: str = "", keep: int | None = None) -> ShownRanked:
    """'Sort them by year', 'most popular first': the items just shown in that order, each with
    the reason the list gave (by popularity: how many people saw it); `which` ("oldest"), when the
    person asked which one is, names it first; `keep` ("only the first 3") keeps that many."""
    items = order_items([catalog.get(i) for i in shown if i in catalog], order, counts)
    if keep is not None and keep < len(items):  # as they were shown, with the reasons they were given
        items = items[:keep]
        why = [reasons.get(it.id, "") for it in items]
        return ShownRanked(f"Here are the first {keep} again:\n\n{numbered(list(zip(items, why, strict=True)))}", items, why)
    key = order.partition(":")[0]
    why = []
    for it in items:
        if key == "popular" and counts:
            n = counts.get(it.id, 0)
            why.append(f"Seen by {n:,} people here" if n else "Nobody here has rated it yet")
        else:  # the year (or title) is in the headline already: the reason the list gave
            why.append(reasons.get(it.id, ""))
    if key == "popular" and not counts:
        return ShownRanked("This catalog has no interactions, so I can't tell which are better known; "
                           "here they are as before.", items, why)
    lead = f"The {which} of these is {item_headline(items[0])}. " if which and items else ""
    listed = numbered(list(zip(items, why, strict=True)))
    return ShownRanked(f"{lead}Here they are again, {order_phrase(order)}:\n\n{listed}", items, why)

