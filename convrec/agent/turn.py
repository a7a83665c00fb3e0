"""The turn loop: parse → dialogue state → retrieve under hard filters → rank → reply.

`Agent` is the Python API every interface uses (CLI `convrec ask`, the REST API, the chat page,
the LangChain tool, the evaluation harness):

    agent = Agent.from_settings(load_settings())
    sid = agent.new_session(user_id="196")
    reply = agent.chat(sid, "a light-hearted sci-fi film from the 90s, nothing violent")
    for event in agent.chat_stream(sid, "more like #2"):
        ...

One agent serves several catalogs ("scenes") side by side; each session belongs to one, chosen
when it is created or switched per request.
"""

from __future__ import annotations

import copy
import datetime
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from convrec.agent.describe import (
    COMPARED_MAX,
    ItemAbout,
    and_list,
    best_of_shown,
    compare_items,
    describe_item,
    order_items,
    reorder_shown,
    trait_answers,
)
from convrec.agent.groups import MAX_PER_PART, aimed_at, ends_split, merge_same, share, split_message
from convrec.agent.habits import MIN_HISTORY, Habits
from convrec.agent.lexicon import words as word_list
from convrec.agent.reply import Chip, RecommendedItem, Reply, ReplyEvent
from convrec.agent.respond import (
    CLOSE_SIMILARITY,
    FactGuard,
    GuardReport,
    Pick,
    ReplyContext,
    ReplyWriter,
    TitleGuard,
    counted,
    item_headline,
    numbered,
    or_list,
)
from convrec.agent.rules import MAX_COUNT, NAMED_AWARD, NUMBER_WORDS, STORY_SETTINGS, THANKS_WORDS
from convrec.agent.sessions import SessionStore
from convrec.config import Settings
from convrec.errors import ConvrecError, UnknownItemError
from convrec.ranking.base import ScoredItem, zscore_rows
from convrec.ranking.hybrid import HIDDEN
from convrec.ranking.paradigms.kg import SERIES, ForeignItems, relation_label
from convrec.ranking.quality import FacetCompany, ItemQuality, ItemRenown
from convrec.retrieval.filters import NumericRange, SearchFilters
from convrec.retrieval.index import Index, SearchHit

MAX_MESSAGE_CHARS = 2000
CANDIDATES = 100  # nearest to the request's words or referenced items
# A request made only of facet values ("a drama from the 90s"), or no wish at all from someone who
# has liked nothing in chat ("recommend me a film"), gives the embedding nothing to rank by: the
# 100 items nearest the word "Drama" are an arbitrary slice of the dramas. Such a request hands the
# ranker every item that meets the filters (up to this many), so the person's history and
# popularity choose among all of them. (No wish after in-chat likes searches near those likes and
# keeps the 100 and their neighbours: over a whole catalog, CF alone drifts for a short history.)
WHOLE_POOL_CANDIDATES = 2000
PROFILE_REFERENCES = 5  # liked items whose neighbours join the candidates
PROFILE_NEIGHBOURS = 30
DEFAULT_PICKS = 5
# "The best", "top rated": how well people rated a candidate counts as much as how well it fits
# the request and the person (both standardized over the candidates).
QUALITY_WEIGHT = 1.0
AWARDS_WEIGHT = 1.0
GEM_WEIGHT = 1.0  # "hidden gems": rated above the catalog's average counts on its own
OBSCURITY_WEIGHT = 0.5  # against the number of ratings: gems that fewer people found, but not at any rating
# Free words that single some candidates out ("a horror film about dracula": a close match, by
# `respond.CLOSE_SIMILARITY`, for Bram Stoker's Dracula) put those first. The ranker alone weighs
# the words' match far below popularity for someone it knows little of (its short-history weights
# come from predicting what people rate, with no request), so Scream came before any Dracula.
WORDS_WEIGHT = 1.0
# "Something different from what I usually watch": how usual a candidate is for the person (see
# `habits`) counts against it twice as much as the ranker's fit, which leans toward their habits.
UNFAMILIAR_WEIGHT = 2.0
# "The worst rated": against the rating, outweighing the ranker's fit (popularity, for someone new,
# which the well liked lead).
WORST_WEIGHT = 2.0
# "A romance": how much a candidate is of the asked genres by the company it keeps
# (`quality.FacetCompany`), so While You Were Sleeping comes before Star Wars, which is tagged
# Romance too and which popularity alone put first for someone new. A light touch beside the
# ranker's fit: 0.25 raised the simulator's Hit@10 at turn 3 on seeds 42, 7 and 1 from
# 0.92/0.86/0.83 to 0.93/0.88/0.86; 0.5 cost more at the first turn, and for someone new it
# traded the best-loved comedies and westerns (Toy Story, Unforgiven) for merely typical ones.
FOCUS_WEIGHT = 0.25
WHO = re.compile(r"\bwho\b", re.IGNORECASE)  # "who directed #1?": a question about people
# "which is the longest?", "which of these is shortest": a question about the list shown
WHICH_OF_THESE = re.compile(r"\bwhich(?: one| ones| of (?:these|those|them))?(?: \w+)? (?:is|s|was|are|would be) (?:the )?\w+",
                            re.IGNORECASE)
# "is it any good?", "is #2 worth watching?": a question about how well people rated it
GOOD = re.compile(r"\b(?:any good|(?:is|was) (?:it|that|this|#\s?\d+)(?: \w+)?? good|good one|worth (?:it|watching|seeing|a "
                  r"watch|my time)|well (?:liked|rated|reviewed)|how (?:good|well rated|well liked) is)\b", re.IGNORECASE)
NO_RATINGS = "This catalog has no ratings to rank by, so “the best” is read as the best fit."
EMPTY_MESSAGE = "Tell me what you're in the mood for: a genre, an era, or something you liked recently."
CLOSING_REPLY = "You're welcome! Ask me any time you want more ideas."
GOODBYE_REPLY = "Goodbye! Come back any time you want more ideas."
# the closing act with no thanks in it is a goodbye ("bye", "that's all", "good night")
THANKED = re.compile(rf"\b{THANKS_WORDS}\b", re.IGNORECASE)
GREETING_REPLY = "Hi! " + EMPTY_MESSAGE
# What each trait needs, named as the catalog's missing data ("This catalog has no awards").
TRAIT_DATA = {"renown": "interactions to tell the well known from the lesser known", "awards": "awards",
              "language": "languages", "rating": "ratings to rank by"}
UNNAMED_LANGUAGES = ("The knowledge graph does not name languages, so I {took} films not in the language most films "
                     "here are in ({main:,} of the {known:,} with a language).")
NO_DESCRIPTIONS = ("This catalog has no descriptions of its items, so I could only match ({words}) against their "
                   "titles and listed details.")
NO_DESCRIPTIONS_AVOID = ("This catalog has no descriptions of its items, so for ({words}) I could only move matching "
                         "titles and listed details down the list.")
# Year words counted from "now", which for a catalog that ends years ago is its newest year
NOW_WORDS = re.compile(r"\b(?:last|past|previous|ago|this year|this decade|right now|these days|nowadays|lately"
                       r"|new releases|latest|newest|recent|brand new|what s new|what is new)\b")
NO_GEMS = "None of the lesser-known ones that fit is rated above this catalog's average ({mean:.1f}), so these are the best of them."
OTHER_LANGUAGES = "To see films in other languages than most, ask for a foreign film."
UNNAMED_AWARDS = "The knowledge graph counts each film's awards but does not name them, so I went by any award."
HISTORY_RELAXED = "hiding what you have already rated"
NO_HABITS = ("I don't know your usual picks yet (I go by at least {n} you rated or liked), so these aren't steered "
             "away from them. Tell me a few you liked, and ask again.")
INJECTION_NOTICE = "I can only help you find things in this catalog, so I ignored the instructions in your message."


class RelatedPool(NamedTuple):
    """What the relations asked for come to (see `Agent._related_pool`)."""

    pool: list[str] | None  # only these items; None when no relation was asked for
    unrelated: list[str]  # never these ("not by the director of Fargo")
    notes: list[str]  # what could not be answered, said in the reply
    asked: list[tuple[dict[str, Any], set[str]]]  # per relation kept: its evidence, the items sharing it


HISTORY_SHOWN = 5  # favourites named when a person asks what convrec knows of them


class Found(NamedTuple):
    """What retrieval and ranking made of a state (see `Agent._find`)."""

    request: Any  # the request searched, after any relaxation
    picks: list[Pick]
    relaxed: list[str]  # constraints dropped to find anything, as the reply names them
    related: RelatedPool
    habits: Habits | None  # the person's usual picks, when something unlike them was asked for


class Lean(NamedTuple):
    """A signal the order leans on for one request ("the best": the rating): its weight against
    the ranker's fit (both standardized), its value per item id, and the evidence it gives a pick."""

    weight: float
    value: Callable[[str], float]
    evidence: Callable[[str], dict[str, Any] | None] | None


@dataclass
class Scene:
    """One catalog with everything needed to recommend from it."""

    name: str
    index: Index
    ranker: Any
    parser: Any
    writer: ReplyWriter
    quality: ItemQuality | None = None  # how well people rated each item; None without ratings
    renown: ItemRenown | None = None  # which items are well known; None without interactions
    awards: dict[str, tuple[int, int]] | None = None  # id -> (won, nominated), from a knowledge graph
    foreign: ForeignItems | None = None  # in none of the language most items share, by a knowledge graph
    lock: threading.Lock = field(default_factory=threading.Lock)
    _company: tuple[Any, FacetCompany | None] | None = field(default=None, repr=False)

    def company(self) -> FacetCompany | None:
        """How much each item is of each value of the catalog's main multi-valued facet, by the
        company it keeps in the ranker's CF factors (`quality.FacetCompany`); made once per ranker
        (the simulator swaps in one trained on its split), None without CF factors (an untrained
        ranker) or such a facet."""
        cached = self._company
        if cached is not None and cached[0] is self.ranker:
            return cached[1]
        cat = self.index.catalog
        facet = getattr(cat.schema.main_multi, "name", None)
        cf = getattr(self.ranker, "cf_part", None)
        found = None
        if facet is not None and cf is not None and hasattr(cf, "model_"):
            found = FacetCompany.from_factors(self.ranker.data.train.item_ids, cf.model_.unit_item_factors,
                                              cf.item_trained,
                                              lambda i: cat.get(i).categorical.get(facet, ()) if i in cat else ())
        self._company = (self.ranker, found)
        return found

    @property
    def last_to_drop(self) -> dict[str, set[str]]:
        """Facet values whose wish is given up last (the parser's lexicon: Children's)."""
        lexicon = getattr(self.parser, "lexicon", None)
        return lexicon.last_to_drop if lexicon is not None else {}

    @property
    def year_facet(self) -> Any:
        """The catalog's year facet as its lexicon reads it (a `NumericFacet`), or None."""
        lexicon = getattr(self.parser, "lexicon", None)
        return lexicon.year_facet if lexicon is not None else None

    def knows(self, trait: str) -> bool:
        """Whether this catalog has the data a trait needs (see `preferences.TRAITS`)."""
        if trait == "familiarity":  # the person's own history: whether it is long enough is said per turn
            return True
        return {"renown": self.renown, "awards": self.awards, "language": self.foreign,
                "rating": self.quality}[trait] is not None

    def introduction(self) -> str:
        """What convrec is and what it knows here, from this catalog's data ("what can you do?",
        "are you an AI?", "how many movies do you have?")."""
        cat = self.index.catalog
        facets = []
        for spec in cat.schema.facets:
            high = spec.usual_high if spec.usual_high is not None else spec.high
            span = (f" ({spec.low:g}–{high:g})" if spec.kind == "numeric" and spec.low is not None and high is not None
                    else "")
            facets.append(spec.display + span)
        known = [f"their {and_list(facets)}"] if facets else []
        if self.renown is not None:
            known.append(f"ratings from {self.renown.people:,} people")
        if getattr(self.ranker, "has_graph", False):
            known.append("a knowledge graph of who made them" + (" and the awards they won" if self.awards else ""))
        listed = known[0] if len(known) == 1 else ", ".join(known[:-1]) + ", and " + known[-1] if known else ""
        return (f"I'm convrec, a recommender that runs on this machine. Here I know {len(cat):,} titles from the "
                f"{cat.name} catalog{': ' + listed if listed else ''}. Tell me what you're in the mood for (a "
                "genre, an era, something you liked, what to avoid) and I'll suggest some, each with a reason drawn "
                "from those facts. You can ask about any pick (why #2, or whether #1 is any good), have the list "
                "sorted (by year, newest first), ask how many there are, say which you liked, ask what I know of your "
                "taste, or start over.")

    def left_out(self, trait: str, value: str) -> frozenset[str]:
        """The items a trait's value leaves out ("lesser known": the well known); none for others."""
        if trait == "renown" and value == "lesser_known" and self.renown is not None:
            return self.renown.well_known
        if trait == "language" and value == "native" and self.foreign is not None:
            return self.foreign.ids  # "no foreign films": the others
        return frozenset()

    def only(self, trait: str, value: str) -> frozenset[str] | None:
        """The items a trait's value keeps to ("award winner": those with a win), or None when it
        keeps to no set (unknown data, or "lesser known", which leaves out the well known)."""
        if trait == "renown" and value == "well_known" and self.renown is not None:
            return self.renown.well_known
        if trait == "awards" and self.awards is not None:
            return frozenset(i for i, (won, nominated) in self.awards.items() if won or (value == "nominated" and nominated))
        if trait == "language" and value == "foreign" and self.foreign is not None:
            return self.foreign.ids
        return None


class Agent:
    """A conversational recommender over one or more built catalogs."""

    def __init__(
        self,
        settings: Settings,
        llm: Any | None = None,
        sessions: SessionStore | None = None,
        use_llm_for_parsing: bool = True,
    ) -> None:
        self.settings = settings
        self.llm = llm
        self.use_llm_for_parsing = use_llm_for_parsing
        self.sessions = sessions or SessionStore(settings.home / "sessions.sqlite")
        self._scenes: dict[str, Scene] = {}
        self._scenes_lock = threading.Lock()
        self._session_locks: dict[str, threading.Lock] = {}

    @classmethod
    def from_settings(cls, settings: Settings, llm: Any | None | str = "auto") -> Agent:
        """Build an agent from settings; `llm="auto"` makes the configured backend (or none)."""
        if llm == "auto":
            from convrec.agent.llm import make_backend

            llm = make_backend(settings)
        agent = cls(settings, llm=llm, use_llm_for_parsing=settings.llm.parse_with_llm)
        # Open the default catalog, load the embedder and the facet columns now: errors surface at
        # start, and the first turn does not pay for loading.
        agent.scene(settings.catalog).index.warm()
        return agent

    # -- scenes -----------------------------------------------------------------------------------
    def scene(self, catalog: str | None = None) -> Scene:
        from convrec.agent.parse import PreferenceParser
        from convrec.ranking import load_ranker
        from convrec.retrieval.index import catalog_name

        name = catalog_name(catalog or self.settings.catalog)
        with self._scenes_lock:
            scene = self._scenes.get(name)
            if scene is not None and not scene.index.is_stale():
                return scene
            index = Index.open(self.settings, name)
            cat = index.catalog
            small = [spec for spec in cat.schema.categorical if len(spec.values) <= 200]  # genres, not authors
            guard = TitleGuard((it.title for it in cat.items), [v for spec in small for v in spec.values])
            facts = FactGuard({spec.name: spec.values for spec in small})
            parser = PreferenceParser.for_catalog(cat, llm=self.llm if self.use_llm_for_parsing else None)
            scene = Scene(name, index, load_ranker(index), parser, ReplyWriter(self.llm, guard, facts=facts),
                          quality=ItemQuality.from_interactions(cat.interactions),
                          renown=ItemRenown.from_interactions(cat.interactions))
            awards = getattr(scene.ranker, "awards", None)
            scene.awards = awards() if awards is not None else None
            foreign = getattr(scene.ranker, "outside_main_language", None)
            scene.foreign = foreign() if foreign is not None else None
            self._scenes[name] = scene
            return scene

    def catalogs(self) -> list[str]:
        """Catalogs with a built index under this agent's home."""
        root = self.settings.index_dir
        return sorted(p.name for p in root.glob("*") if (p / "current.json").exists()) if root.is_dir() else []

    # -- sessions ---------------------------------------------------------------------------------
    def new_session(self, user_id: str | None = None, catalog: str | None = None) -> str:
        scene = self.scene(catalog)
        if user_id is not None:
            user_id = str(user_id).strip() or None
        return self.sessions.create(scene.name, user_id=user_id, state={}).id

    def _session_lock(self, session_id: str) -> threading.Lock:
        with self._scenes_lock:
            return self._session_locks.setdefault(session_id, threading.Lock())

    def reset(self, session_id: str) -> None:
        """Forget the conversation's constraints and shown items (feedback stays)."""
        from convrec.agent.state import DialogueState

        with self._session_lock(session_id):
            record = self.sessions.get(session_id)
            old = DialogueState.model_validate(record.state) if record.state else DialogueState()
            fresh = DialogueState(liked=old.liked, disliked=old.disliked, turn=old.turn)
            self.sessions.save_state(session_id, fresh.model_dump(mode="json"))

    def remove_constraint(self, session_id: str, key: str) -> list[Chip]:
        """Drop one understood constraint (a chip's `key`); returns the chips left."""
        from convrec.agent.state import DialogueState

        with self._session_lock(session_id):
            record = self.sessions.get(session_id)
            state = DialogueState.model_validate(record.state) if record.state else DialogueState()
            groups = [f"group:{i}" for i in range(len(state.groups))]
            if key in groups:  # one of the lists asked for in one message
                state.ungroup(groups.index(key))
            elif key not in {c.key for c in (*state.constraints(), *state.references())}:
                raise ConvrecError(f"No constraint {key!r} in this conversation.")
            else:  # while split, a wish every list holds goes from each of them
                for group in state.groups:
                    group.state.drop(key)
                state.drop(key)
            self.sessions.save_state(session_id, state.model_dump(mode="json"))
            return self.chips(state, record.catalog)

    def feedback(self, session_id: str, item_id: str, value: int) -> None:
        """Like (+1) or dislike (-1) an item: stored for the user's history, used from the next turn."""
        from convrec.agent.state import DialogueState

        with self._session_lock(session_id):
            record = self.sessions.get(session_id)
            scene = self.scene(record.catalog)
            scene.index.catalog.get(item_id)  # unknown ids are a clear error, not a silent no-op
            self.sessions.add_feedback(session_id, item_id, value)
            state = DialogueState.model_validate(record.state) if record.state else DialogueState()
            liked = [i for i in state.liked if i != item_id]
            disliked = [i for i in state.disliked if i != item_id]
            (liked if value > 0 else disliked).append(item_id)
            state.liked, state.disliked = liked, disliked
            self.sessions.save_state(session_id, state.model_dump(mode="json"))

    def item(self, item_id: str, catalog: str | None = None) -> RecommendedItem:
        scene = self.scene(catalog)
        it = scene.index.catalog.get(item_id)
        return RecommendedItem(id=it.id, title=it.title, facts=it.facts())

    # -- the turn ---------------------------------------------------------------------------------
    def chat(self, session_id: str, text: str, catalog: str | None = None) -> Reply:
        reply = None
        for event in self.chat_stream(session_id, text, catalog=catalog):
            if event.type == "done":
                reply = event.reply
        assert reply is not None
        return reply

    def chat_stream(self, session_id: str, text: str, catalog: str | None = None) -> Iterator[ReplyEvent]:
        """Run one turn, yielding text deltas as the reply is written, then the whole `Reply`."""
        from convrec.agent.state import DialogueState

        timings: dict[str, float] = {}
        started = time.perf_counter()
        text = text if isinstance(text, str) else str(text)
        record = self.sessions.get(session_id)
        if catalog is not None and catalog != record.catalog:
            # Switching scene mid-conversation: the old constraints belong to another catalog.
            self.scene(catalog)
            with self._session_lock(session_id):
                self.sessions.save_state(session_id, {})
            record = self.sessions.get(session_id)
            record = type(record)(record.id, record.user_id, self.scene(catalog).name, {}, record.created_at, record.updated_at)
        scene = self.scene(record.catalog)

        message = text.strip()
        if not message or len(message) > MAX_MESSAGE_CHARS:
            note = EMPTY_MESSAGE if not message else (
                f"That message is too long ({len(message):,} characters; the limit is {MAX_MESSAGE_CHARS:,}). "
                "Please say it in fewer words."
            )
            state = DialogueState.model_validate(record.state) if record.state else DialogueState()
            reply = Reply(session_id=session_id, text=note, kind="chat", understood=self.chips(state, scene.name), catalog=scene.name)
            yield ReplyEvent(type="delta", text=note)
            yield ReplyEvent(type="done", reply=reply)
            return

        with self._session_lock(session_id):
            state = DialogueState.model_validate(record.state) if record.state else DialogueState()
            cat = scene.index.catalog

            t0 = time.perf_counter()
            parts = self._read_parts(scene, message, state)
            if parts is not None:  # "3 action movies from the 80s and 2 comedies from the 90s"
                timings["parse"] = time.perf_counter() - t0
                yield from self._grouped(scene, record, session_id, message, state, timings, started, parts=parts)
                return
            prefs = scene.parser.parse(message, state)
            self._known_traits(scene, prefs)
            self._pin_by_age(scene, prefs, state)
            if not cat.describes_items and prefs.unknown_titles:
                unknown = self._unsearchable_names(prefs, state)
                if unknown is not None:  # "something like The Matrix", and nothing else to go by
                    yield from self._answer(scene, session_id, message, state, unknown, [], "chat", started)
                    return
            focus = prefs.focus
            if ({"describe", "why_not"} & set(prefs.acts) and focus is not None
                    and (focus.ordinal is not None or (focus.pointer == "focus" and not state.last_shown))
                    and not state.resolve(focus)):
                # "is #2 ok for kids?" after a list of one: say so, rather than read it as a new request
                shown = len(state.last_shown)
                said = (f"There is no #{focus.ordinal}: the last list had {counted(shown, 'pick')}."
                        if shown else "I haven't shown anything yet. Tell me what you're in the mood for.")
                yield from self._answer(scene, session_id, message, state, said, [], "chat", started)
                return
            compared, missing = (self._resolved(cat, state, prefs.item_refs())
                                 if {"compare", "best_of_shown"} & set(prefs.acts) else ([], []))
            if "compare" in prefs.acts and missing and len(compared) + len(missing) > 1:
                # "compare #2 and #9" after five: say so, rather than a new list like #2
                said = unresolved_notice(missing, len(state.last_shown))
                yield from self._answer(scene, session_id, message, state, said, [], "chat", started)
                return
            unswapped = self._resolved(cat, state, prefs.rejected)[1] if "swap" in prefs.acts else []
            if unswapped and len(unswapped) == len(prefs.rejected) and state.last_shown:
                # "swap #9" after five: say so; the list stays as it was
                said = f"{unresolved_notice(unswapped, len(state.last_shown))} The list stays as it was."
                yield from self._answer(scene, session_id, message, state, said, [], "chat", started)
                return
            if len(compared) > 1:
                # "compare #1 and #2", "which is better, #2 or #4?": side by side; no new list
                reasons = self._given_reasons(session_id)
                cards = [(cat.get(i), reasons.get(i, "")) for i in compared[:COMPARED_MAX]]
                said = compare_items(cat, compared, scene.ranker, scene.quality)
                if not state.last_shown:  # "which is better, Heat or Casino?" → "more like the first one"
                    state.record_shown([it.id for it, _ in cards])
                yield from self._answer(scene, session_id, message, state, said, cards, "about", started)
                return
            left_out = self._why_not(scene, record, state, prefs) if "why_not" in prefs.acts else None
            if left_out is not None:
                # "why not Star Wars?": why the picks left it out; no new list, no new constraint
                item, said, short = left_out
                state.focus = item.id
                yield from self._answer(scene, session_id, message, state, said, [(item, short)], "about", started)
                return
            if prefs.unsupported and WHICH_OF_THESE.search(message) and state.last_shown and prefs.is_empty():
                # "which is the longest?": a question about the list the catalog has no data for
                label, said = next(iter(prefs.unsupported.items()))
                yield from self._answer(scene, session_id, message, state,
                                        f"This catalog has no {label}, so I can't tell which of these is {said}. "
                                        "Ask which is the best rated, or sort them by year.", [], "chat", started)
                return
            none_why = self._why_none(scene, state, prefs) if "why_not" in prefs.acts and focus is None else None
            if none_why is not None:
                # "why no horror?": why the list has none of it; no new list, no new constraint
                yield from self._answer(scene, session_id, message, state, none_why, [], "chat", started)
                return
            about = self._about(scene, session_id, state, prefs, message) if "describe" in prefs.acts else None
            if about is not None:
                # "tell me more about #3", "is #2 funny?": an answer, no new list, no new constraint;
                # "#4 sounds good, tell me more" also likes #4 (for the next list)
                for item_id in [i for ref in prefs.liked for i in state.resolve(ref)]:
                    state.like(item_id)
                state.focus = about.item.id
                said = f"Good choice: enjoy {about.item.title}!\n\n{about.text}" if "choose" in prefs.acts else about.text
                yield from self._answer(scene, session_id, message, state, said, [(about.item, about.why)],
                                        "about", started, cited=about.cited)
                return
            # "which is the best horror movie ever?" names what it wants: a request for the best
            names_more = bool(prefs.include_all or prefs.include_any or prefs.ranges or prefs.similar_to)
            of_shown = {"best_of_shown", "worst_of_shown"} & set(prefs.acts)
            if of_shown and state.last_shown and not names_more:
                # "which of these is the best?": the same list, best rated first; it is the list now
                ranked = best_of_shown(cat, state.last_shown, scene.quality, worst="worst_of_shown" in of_shown,
                                       keep=prefs.count)  # "top 3 of those": the best three
                said = ranked.text
                if prefs.evidence.get("superlative") and scene.quality is not None:
                    # "which one is the scariest?": the catalog rates items, it does not measure scariness
                    said = (f"I can't measure which is {prefs.evidence['superlative']} from what this catalog "
                            f"has, so here they are best rated first. {said}")
                yield from self._shown_again(scene, session_id, message, state, ranked, said, started)
                return
            if "my_history" in prefs.acts and not names_more:
                # "show me my favourites", "what do you know about me?": what the picks go by
                said, cards = self._history(scene, record, state)
                if cards:
                    state.record_shown([it.id for it, _ in cards])  # "more like #2" then means that one
                yield from self._answer(scene, session_id, message, state, said, cards, "about", started)
                return
            if "count_matches" in prefs.acts:
                # "how many of those do you have?", "how many westerns are there?": a count, no list
                yield from self._answer(scene, session_id, message, state, self._count(scene, state, prefs), [],
                                        "chat", started)
                return
            if "reorder_shown" in prefs.acts and prefs.order and state.last_shown and not names_more:
                # "sort them by year", "most popular first": the same list in that order; it is the list now
                ranked = reorder_shown(cat, state.last_shown, prefs.order, self._counts(scene),
                                       self._given_reasons(session_id), which=prefs.evidence.get("which", ""),
                                       keep=prefs.count if prefs.order == "shown" else None)
                yield from self._shown_again(scene, session_id, message, state, ranked, ranked.text, started)
                return
            if "why_shown" in prefs.acts and state.last_shown and not names_more:
                # "why these?": what the list was picked for and how it was ordered; no new list
                said, cards = self._why_shown(scene, record, session_id, state)
                yield from self._answer(scene, session_id, message, state, said, cards, "about", started)
                return
            if "best_of_shown" in prefs.acts:  # nothing shown yet: the best rated, as "the best" asks
                prefs.quality = True
            if "worst_of_shown" in prefs.acts:  # ... and the worst rated, as "the worst" asks
                prefs.traits["rating"] = "worst"
            if state.groups and not {"thanks", "greet", "help", "undo"} & set(prefs.acts):
                if ends_split(prefs):  # "more like #2", "start over": one list, from what every group asked
                    state.groups = []
                else:  # "more", "nothing violent", "only from the 90s": for every group
                    timings["parse"] = time.perf_counter() - t0
                    yield from self._grouped(scene, record, session_id, message, state, timings, started, prefs=prefs)
                    return
            swap_from = list(state.last_shown) if "swap" in prefs.acts else []
            # "undo" alone, with something to go back to: the list as it was then, not new picks for it
            going_back = prefs.acts == ["undo"] and state.previous is not None and \
                prefs.model_copy(update={"acts": []}).is_empty()
            change = state.apply(prefs, cat)
            refused = set(state.rejected)
            swapped = [i for i in swap_from if i in refused]  # "swap #3": the picks to replace
            list_size = state.count
            if swapped and self._kept_hold(scene, state, swap_from, swapped):
                state.count = len(swapped)  # this turn only: the list stays as long as it was
            else:  # "replace #2 with a comedy" changed the wishes the others met: a new list
                swapped = []
            timings["parse"] = time.perf_counter() - t0
            if prefs.acts in (["thanks"], ["greet"], ["help"]):
                # "thanks!", "hi", "what can you do?": no new list; what was asked and shown stays for later
                said = {"thanks": CLOSING_REPLY, "greet": GREETING_REPLY}.get(prefs.acts[0]) or scene.introduction()
                if said == CLOSING_REPLY and not THANKED.search(message):
                    said = GOODBYE_REPLY  # "bye", "that's all": no thanks to answer
                yield from self._answer(scene, session_id, message, state, said, [], "chat", started)
                return
            if state.groups:  # "undo" brought back a split: its lists again
                yield from self._grouped(scene, record, session_id, message, state, timings, started)
                return
            if going_back and state.last_shown:
                ranked = reorder_shown(cat, state.last_shown, "shown", self._counts(scene), self._given_reasons(session_id))
                yield from self._shown_again(scene, session_id, message, state, ranked,
                                             f"Undid the last change. {ranked.text}", started)
                return

            found = self._find(scene, record, state, change, timings)
            found = found._replace(picks=self._ordered(scene, found.picks, prefs.order))
            said_swap = ""
            if swapped:
                picks, said_swap = self._swapped(scene, session_id, swap_from, swapped, found.picks)
                found = found._replace(picks=picks)
                state.count = list_size
            request = found.request
            by_rating = request.quality and scene.quality is not None
            ctx = ReplyContext(
                picks=found.picks,
                understood="; ".join([*joined_labels(self.chips(state, scene.name)),
                                      *(["well rated"] if by_rating else [])]),
                # a name the catalog cannot look up is searched as words, but no pick "fits" it
                query=" ".join(w for w in request.query.split() if w not in state.names),
                include=self._wanted(request),
                ranges={f: (r.low, r.high) for f, r in request.filters.ranges.items()},
                relaxed=found.relaxed,
                titles_by_id=self._referenced_titles(cat, state, found.picks),
                notice=" ".join(n for n in [*self._notices(scene, state, prefs, change, found), said_swap] if n),
                compared={*request.similar_to, *(str(r.ref.item_id) for r in request.related if not r.negated)}
                - set(state.liked),
            )
            yield from self._write(scene, session_id, message, state, ctx, timings, started)

    def _shown_again(self, scene: Scene, session_id: str, message: str, state: Any, ranked: Any, said: str,
                     started: float) -> Iterator[ReplyEvent]:
        """The list just shown, again in another order (sorted, best first, as before "undo"): it
        is the list now, which "#1" then follows."""
        state.record_shown([it.id for it in ranked.items])
        yield from self._answer(scene, session_id, message, state, said,
                                list(zip(ranked.items, ranked.why, strict=True)), "reordered", started)

    @staticmethod
    def _kept_hold(scene: Scene, state: Any, listed: list[str], out: list[str]) -> bool:
        """Whether the picks a swap keeps still meet what is asked now ("swap #1 for an older one"
        also asks for older ones, which the others may not be)."""
        cat = scene.index.catalog
        asked = state.request().filters.model_copy(update={"exclude_ids": []})
        return all(asked.matches(cat.get(i)) for i in listed if i not in out and i in cat)

    def _swapped(self, scene: Scene, session_id: str, listed: list[str], out: list[str],
                 found: list[Pick]) -> tuple[list[Pick], str]:
        """"Swap #3 for something else": the last list with the picks in `out` replaced, in their
        places, by the new picks `found` (the others keep the reasons they were shown with), and
        the sentence that says what was swapped for what."""
        cat = scene.index.catalog
        reasons = self._given_reasons(session_id)
        fresh = iter(found)
        picks: list[Pick] = []
        took, gave = [], []
        for item_id in listed:
            if item_id not in cat:
                continue
            if item_id not in out:
                picks.append(Pick(item=cat.get(item_id), score=0.0, why=reasons.get(item_id, "")))
                continue
            took.append(cat.get(item_id).title)
            new = next(fresh, None)
            if new is not None:
                picks.append(new)
                gave.append(new.item.title)
        if not took:
            return picks, ""
        if not gave:
            return picks, f"Nothing else here fits what you asked, so I took out {and_list(took)}."
        if len(took) == len(picks) > 3:  # "not #1, #2, #3, #4 or #5": no sentence naming them all twice
            return picks, f"I swapped all {len(took)}."
        return picks, f"I swapped {and_list(took)} for {and_list(gave)}."

    def _find(self, scene: Scene, record: Any, state: Any, change: Any, timings: dict[str, float]) -> Found:
        """Retrieve and rank for the state as it now is (the stages of a turn after reading it)."""
        t0 = time.perf_counter()
        related = self._related_pool(scene, state)
        profile = self._profile(scene, record, state, state.request())
        request, hits, relaxed = self._retrieve(scene, state, profile, related.pool, related.unrelated, change)
        timings["retrieve"] = timings.get("retrieve", 0.0) + time.perf_counter() - t0

        t0 = time.perf_counter()
        cat = scene.index.catalog
        habits = Habits.of(self._known(scene, profile), cat, scene.index) if "familiarity" in request.traits else None
        picks = self._rank(scene, profile, request, hits, related.asked, habits)
        timings["rank"] = timings.get("rank", 0.0) + time.perf_counter() - t0
        return Found(request, picks, relaxed, related, habits)

    def _notices(self, scene: Scene, state: Any, prefs: Any, change: Any, found: Found) -> list[str]:
        """What the reply says before the picks: what could not be matched, looked up or kept."""
        request, picks, habits = found.request, found.picks, found.habits
        cat = scene.index.catalog
        notice_bits = list(found.related.notes)
        if change.unresolved:  # "more like #2" before any list, "#7" after five
            notice_bits.append(unresolved_notice(change.unresolved, len(state.last_shown)))
        if "familiarity" in request.traits and habits is None:  # said, and not kept as understood
            notice_bits.append(NO_HABITS.format(n=MIN_HISTORY))
            state.drop("trait:familiarity")
        if prefs.injection:
            notice_bits.append(INJECTION_NOTICE)
        if prefs.unknown_titles:
            known = [r.title for r in (*prefs.similar_to, *prefs.liked) if r.title]
            notice_bits.append(unknown_titles_notice(prefs.unknown_titles, known, searched=cat.describes_items))
        if prefs.unknown_people:
            avoided = set(word_list(prefs.avoid))
            notice_bits.append(unknown_people_notice(prefs.unknown_people,
                                                     refused=all(set(word_list(n)) <= avoided for n in prefs.unknown_people)))
        for label, mention in prefs.unsupported.items():
            # parentheses, not quotes: a quoted phrase reads as a title to the title guard
            notice_bits.append(f"This catalog has no {label} ({mention}), so that part of the request is left out.")
        if "count_over" in prefs.evidence:  # "give me 100 movies"
            notice_bits.append(f"I give at most {MAX_COUNT} at a time, so here are the first {MAX_COUNT}; say more for the next ones.")
        if "setting:year" in prefs.evidence:  # "set in the 60s": release years stand in for the setting
            notice_bits.append(f"This catalog has no {STORY_SETTINGS} ({prefs.evidence['setting:year']}), "
                               "so I went by release years instead.")
        if not (cat.describes_items or prefs.unknown_titles or prefs.unknown_people):
            # "a sports movie", "nothing gory" in a catalog of titles and genres (an unknown
            # title or name has already been said to go by the words)
            for template, text in ((NO_DESCRIPTIONS, prefs.query), (NO_DESCRIPTIONS_AVOID, prefs.avoid)):
                # "World War 2", "two comedies and a drama": a number is no word to look for;
                # "vampires" is Horror (a topic), the word only ordering the horror films
                words = [w for w in text.split() if not (w.isdigit() or w in NUMBER_WORDS or w in prefs.topics)]
                if words:
                    notice_bits.append(template.format(words=" ".join(words[:6]) + (" …" if len(words) > 6 else "")))
        both = [vs for vs in request.filters.include_all.values() if len(vs) > 1]
        if both and len(picks) < (request.count or DEFAULT_PICKS):  # "westerns and war films": one pick
            notice_bits.append(f"Few titles here are {and_list(both[0])} at once; say either to take any of them.")
        notice_bits += self._counted_from_the_end(scene, prefs)
        if request.quality and scene.quality is None:
            notice_bits.append(NO_RATINGS)
        if names_an_award(prefs):
            notice_bits.append(UNNAMED_AWARDS)
        if {"countries of origin", "languages"} & set(prefs.unsupported) and scene.foreign is not None:
            notice_bits.append(OTHER_LANGUAGES)  # "a French film": the graph cannot name French
        quality = scene.quality
        if (request.traits.get("renown") == "lesser_known" and quality is not None and picks
                and all(quality.of(p.item.id) <= quality.prior_mean for p in picks)):
            notice_bits.append(NO_GEMS.format(mean=quality.prior_mean))
        if "language" in prefs.traits and scene.foreign is not None:
            took = "left out" if prefs.traits["language"] == "native" else "took"
            notice_bits.append(UNNAMED_LANGUAGES.format(took=took, main=scene.foreign.main, known=len(scene.foreign.known)))
        notice_bits += list(getattr(change, "notes", []) or [])
        return notice_bits

    def _write(self, scene: Scene, session_id: str, message: str, state: Any, ctx: ReplyContext,
               timings: dict[str, float], started: float) -> Iterator[ReplyEvent]:
        """Write the reply for `ctx` (streamed), record the turn and the state, yield the `Reply`."""
        report = GuardReport()
        parts: list[str] = []
        t0 = time.perf_counter()
        for delta in scene.writer.stream(ctx, report):
            if not parts:
                timings["first_token"] = time.perf_counter() - started
            parts.append(delta)
            yield ReplyEvent(type="delta", text=delta)
        timings["reply"] = time.perf_counter() - t0
        reply_text = "".join(parts).strip()

        picks = ctx.picks
        state.record_shown([p.item.id for p in picks])
        items = [
            RecommendedItem(
                id=p.item.id, title=p.item.title, facts=p.item.facts(), why=p.why, score=round(p.score, 4),
                parts={k: round(float(v), 4) for k, v in p.parts.items()},
            )
            for p in picks
        ]
        self.sessions.record_turn(
            session_id, message, reply_text, [i.model_dump() for i in items], state.model_dump(mode="json")
        )
        timings["total"] = time.perf_counter() - started
        reply = Reply(
            session_id=session_id,
            text=reply_text,
            items=items,
            understood=self.chips(state, scene.name),
            relaxed=ctx.relaxed,
            notice=ctx.notice,
            catalog=scene.name,
            timings={k: round(v, 4) for k, v in timings.items()},
            removed_titles=report.removed_titles,
            removed_claims=report.removed_claims,
            cited=list(ctx.titles_by_id),
        )
        yield ReplyEvent(type="done", reply=reply)

    @staticmethod
    def _wanted(request: Any) -> dict[str, list[str]]:
        """The values a request wants, per facet, whether all or any of them: a crime film with a
        twist ("Crime; Mystery or Thriller") names Crime in its reasons too."""
        f = request.filters
        return {facet: list(dict.fromkeys([*f.include_all.get(facet, []), *f.include_any.get(facet, [])]))
                for facet in {**f.include_all, **f.include_any}}

    @staticmethod
    def _known_traits(scene: Scene, prefs: Any) -> None:
        """Wishes this catalog has no data for (no graph counts awards here) become notices."""
        for trait in [t for t in prefs.traits if not scene.knows(t)]:
            prefs.unsupported.setdefault(TRAIT_DATA[trait], prefs.evidence.get(f"trait:{trait}", trait))
            del prefs.traits[trait]

    @staticmethod
    def _read_parts(scene: Scene, message: str, state: Any) -> list[tuple[int, Any]] | None:
        """A message asking for several lists, read part by part (see `convrec.agent.groups`):
        (count, reading) per part, or None for a message that asks for one list."""
        parts = split_message(message, total=state.count or DEFAULT_PICKS)
        if parts is None:
            return None
        read = share([scene.parser.parse(part.text, state) for part in parts])
        return None if read is None else [(part.count, prefs) for part, prefs in zip(parts, read, strict=True)]

    def _grouped(self, scene: Scene, record: Any, session_id: str, message: str, state: Any,
                 timings: dict[str, float], started: float, parts: list[tuple[int, Any]] | None = None,
                 prefs: Any = None) -> Iterator[ReplyEvent]:
        """A turn with one list per group: a new split (`parts`), a message for every group of the
        split in force (`prefs`), or the groups as they are (after "undo"). The picks of each
        group are found in turn, none repeated, and shown as one numbered list."""
        from convrec.agent.preferences import Preferences
        from convrec.agent.state import Group, TurnChange

        cat = scene.index.catalog
        before = state.model_copy(deep=True)
        readings: list[Any]
        changes: list[Any]
        if parts is not None:
            base = state.model_copy(deep=True, update={"groups": [], "previous": None})
            groups, changes, readings = [], [], []
            for count, reading in parts:
                self._known_traits(scene, reading)
                group = Group(count=count, state=base.model_copy(deep=True))
                changes.append(group.state.apply(reading, cat))
                groups.append(group)
                readings.append(reading)
            state.turn += 1
            state.acts, state.count = [], None
            state.previous = before.model_copy(update={"previous": None}).to_json()
        elif prefs is not None:
            # "make the comedies from the 90s": that group only; "only the comedies": that group alone
            aim = aimed_at(prefs, before.groups)
            said = prefs if aim is None else aim.prefs
            state.apply(said, cat)  # feedback, refusals and the undo snapshot, for the whole conversation
            groups, changes = [], []
            for i, old in enumerate(before.groups):
                if aim is not None and i not in aim.keep:
                    continue
                group = old.model_copy(deep=True)
                # "#4", "that one" and "more" mean the whole list shown, as in the conversation
                for name in ("liked", "disliked", "rejected", "shown", "last_shown", "focus", "subject"):
                    setattr(group.state, name, copy.deepcopy(getattr(before, name)))
                if aim is not None and len(aim.keep) == 1:  # one group left: as many as the whole list had
                    group.count = min(MAX_PER_PART, sum(g.count for g in before.groups))
                if aim is None or aim.target in (None, i):
                    changes.append(group.state.apply(said, cat))
                    group.count = prefs.count or group.count
                else:  # another group's wishes: this one's list is shown again as it was
                    group.state.shown = [item for item in group.state.shown if item not in before.last_shown]
                    changes.append(group.state.apply(Preferences(), cat))
                groups.append(group)
            kept = merge_same(groups)
            if len(kept) < len(groups):
                changes = [changes[groups.index(g)] for g in kept]
                groups = kept
            readings = [prefs] * len(groups)
        else:
            groups = list(state.groups)
            changes, readings = [TurnChange() for _ in groups], [Preferences() for _ in groups]

        picks: list[Pick] = []
        founds: list[Found] = []
        notices: list[str] = []
        include: dict[str, list[str]] = {}
        ranges: dict[str, NumericRange] = {}
        titles: dict[str, str] = {}
        compared: set[str] = set()
        # "swap #2": each list keeps its picks but the ones named, replaced in their places
        swap_out = set(state.rejected) if prefs is not None and "swap" in prefs.acts else set()
        swapping = bool(swap_out & set(before.last_shown)) and len(groups) == len(before.groups)
        swaps: list[str] = []
        for k, (group, change, reading) in enumerate(zip(groups, changes, readings, strict=True)):
            g = group.state
            g.shown = list(dict.fromkeys([*g.shown, *(p.item.id for p in picks)]))  # none twice in one reply
            own = before.groups[k].state.last_shown if swapping else []
            out = [i for i in own if i in swap_out]
            swaps_here = swapping and self._kept_hold(scene, g, own, out)
            g.count = max(1, len(out)) if swaps_here else group.count
            found = self._find(scene, record, g, change, timings)
            if swaps_here:
                kept, said = self._swapped(scene, session_id, own, out, found.picks[:len(out)])
                swaps += [said] if said else []
                found = found._replace(picks=kept)
            else:
                found = found._replace(picks=self._ordered(scene, found.picks[:group.count], reading.order))
            founds.append(found)
            notices += self._notices(scene, g, reading, change, found)
            g.record_shown([p.item.id for p in found.picks])
            picks += found.picks
            request = found.request
            for f, vs in self._wanted(request).items():
                include[f] = list(dict.fromkeys([*include.get(f, []), *vs]))
            for f, r in request.filters.ranges.items():
                ranges[f] = ranges[f].hull(r) if f in ranges else r
            titles.update(self._referenced_titles(cat, g, found.picks))
            compared |= {*request.similar_to, *(str(r.ref.item_id) for r in request.related if not r.negated)}
        state.set_groups(groups)  # one group left ("only comedies" after two comedy groups): one list again
        labels = self.group_labels(state, scene.name) if state.groups else [""]
        by_rating = scene.quality is not None and all(found.request.quality for found in founds)
        ctx = ReplyContext(
            picks=picks,
            understood="; ".join([*joined_labels(self._wish_chips(state, scene.name)), *(["well rated"] if by_rating else [])]),
            include=include,
            ranges={f: (r.low, r.high) for f, r in ranges.items()},
            relaxed=[f"{r} (for the {label})" if label else r
                     for found, label in zip(founds, labels, strict=True) for r in found.relaxed],
            titles_by_id=titles,
            notice=" ".join(dict.fromkeys([*notices, *swaps])),
            compared=compared - set(state.liked),
            groups=[(len(found.picks), label) for found, label in zip(founds, labels, strict=True)] if state.groups else [],
        )
        yield from self._write(scene, session_id, message, state, ctx, timings, started)

    def _answer(self, scene: Scene, session_id: str, message: str, state: Any, text: str,
                items: Sequence[tuple[Any, str]], kind: str, started: float,
                cited: Sequence[str] = ()) -> Iterator[ReplyEvent]:
        """A turn answered without retrieval ("tell me about #2", "which is the best?", "thanks"):
        records it with the state as it is and yields the text and the reply. `items` are (catalog
        item, reason) pairs to show as cards; `kind` is the reply's kind; `started` is when the
        turn began (its total time is reported)."""
        shown = [RecommendedItem(id=it.id, title=it.title, facts=it.facts(), why=why) for it, why in items]
        self.sessions.record_turn(session_id, message, text, [i.model_dump() for i in shown],
                                  state.model_dump(mode="json"))
        yield ReplyEvent(type="delta", text=text)
        yield ReplyEvent(type="done", reply=Reply(session_id=session_id, text=text, kind=kind, items=shown,
                                                  understood=self.chips(state, scene.name), catalog=scene.name,
                                                  timings={"total": round(time.perf_counter() - started, 4)},
                                                  cited=list(cited)))

    @staticmethod
    def _counted_from_the_end(scene: Scene, prefs: Any) -> list[str]:
        """"Anything from this year?", "comedies from the last 5 years": years counted back from
        the catalog's newest item, not from today, which the reply says when the catalog ends
        before last year (MovieLens 100K ends in 1998)."""
        year = scene.year_facet
        if year is None or year.high is None or year.high >= datetime.date.today().year - 1:
            return []
        said = prefs.evidence.get(f"range:{year.facet}", "")
        if not NOW_WORDS.search(said):
            return []
        return [f"This catalog's newest titles are from {year.high:g}, so I read ({said}) as counted back from {year.high:g}."]

    def _why_not(self, scene: Scene, record: Any, state: Any, prefs: Any) -> tuple[Any, str, str] | None:
        """"Why not Star Wars?": the item, why the picks left it out (every reason that holds: what
        it fails of the request, the person's feedback and history, an earlier list) and a short form
        for its card; None when the question points at nothing (the turn then goes on as a request
        and says what it could not match)."""
        ids = state.resolve(prefs.focus) if prefs.focus is not None else []
        cat = scene.index.catalog
        if not ids or ids[0] not in cat:
            return None
        item = cat.get(ids[0])
        head = item_headline(item)
        if item.id in state.last_shown:
            return item, f"{head} is #{state.last_shown.index(item.id) + 1} in the list above.", "in the list above"
        chips = self.chips(state, scene.name)
        labels = {chip.key: chip.label for chip in chips}
        constraints = [c for c in state.constraints() if c.kind != "unseen"]
        failed: list[str] = []
        for c in constraints:
            if c.kind == "trait":  # as `_retrieve` applies it: the items it keeps to, or leaves out
                keep = scene.only(str(c.facet), c.values[0])
                fails = (keep is not None and item.id not in keep) or item.id in scene.left_out(str(c.facet), c.values[0])
            else:
                only_c = state.request(drop=[o.key for o in constraints if o.key != c.key]).filters
                fails = not only_c.model_copy(update={"exclude_ids": [], "only_ids": None}).matches(item, set())
            if fails:
                failed.append(labels.get(c.key, chip_label(c)))
        related = self._related_pool(scene, state)
        kinds = {"related": related.pool is not None and item.id not in related.pool,
                 "unrelated": item.id in related.unrelated}
        failed += [chip.label for chip in chips if kinds.get(chip.kind)]
        profile = self._profile(scene, record, state, state.request())
        reasons: list[str] = []
        if failed:
            reasons.append(f"it does not fit what you asked for: {and_list(failed)}")
        if item.id in profile.disliked:
            reasons.append("you told me you didn't like it")
        elif item.id in state.rejected:
            reasons.append("you said you'd seen it or didn't want it")
        elif item.id in state.shown:
            reasons.append("it was in an earlier list here, and I don't show a pick twice unless you ask to see "
                           "them again")
        elif item.id in set(scene.ranker.history(profile.user_id)):
            reasons.append("it is in your rating history, and I leave out what you've seen unless you ask for "
                           "those too")
        elif item.id in profile.liked and item.id not in state.similar_to:
            reasons.append("you told me you liked it, so I look for others like it")
        # "why none of the Star Wars films?": the rest of its series that the list does have
        series = [i for i in self._related_ids(scene, item.id, "same_series") or [] if i in state.last_shown]
        listed = [f"#{state.last_shown.index(i) + 1} {cat.get(i).title}" for i in sorted(series, key=state.last_shown.index)]
        also = (f" From the same series, {and_list(listed)} {'is' if len(listed) == 1 else 'are'} in the list above."
                if listed else "")
        if not reasons:
            return item, (f"{head} fits what you asked for; I picked others first for you. Ask for more, or for "
                          f"more like it.{also}"), "fits, ranked below the picks"
        said = reasons[0] if len(reasons) == 1 else "; and ".join(reasons)
        return item, f"{head} is left out because {said}.{also}", ("left out: " + and_list(failed) if failed else
                                                                  "left out")

    def _given_reasons(self, session_id: str) -> dict[str, str]:
        """Item id -> the reason the latest list (or answer) in this session that showed it gave."""
        reasons: dict[str, str] = {}
        for m in self.sessions.messages(session_id):
            reasons.update({str(i.get("id")): str(i.get("why", "")) for i in m.items})
        return reasons

    def _why_shown(self, scene: Scene, record: Any, session_id: str, state: Any) -> tuple[str, list[tuple[Any, str]]]:
        """"Why these?": what the last list was picked for (the constraints in force), what ordered
        it for this person (their words or reference, their ratings or likes, and how many people
        liked each), and each pick's reason as the list gave it."""
        cat = scene.index.catalog
        items = [cat.get(i) for i in state.last_shown if i in cat]
        reasons = self._given_reasons(session_id)
        labels = [chip.label for chip in self.chips(state, scene.name)]
        request = state.request()
        profile = self._profile(scene, record, state, request)
        rated = len(set(scene.ranker.history(profile.user_id))) if profile.user_id else 0
        liked = [cat.get(i).title for i in profile.liked if i in cat and i not in request.similar_to]
        by: list[str] = []
        # what the request leaned the order on (see `_leaning`), first
        if "familiarity" in request.traits:
            by.append("how far each is from what you usually pick")
        if request.traits.get("rating") == "worst":
            by.append("how badly people here rated each")
        elif request.quality or request.traits.get("renown") == "lesser_known" or "familiarity" in request.traits:
            by.append("how well people here rated each")
        if request.traits.get("awards"):
            by.append("the awards each " + ("won" if request.traits["awards"] == "won" else "was nominated for"))
        if request.similar_to:
            by.append("how close each is to " + and_list([cat.get(i).title for i in request.similar_to if i in cat]))
        elif request.query.strip():
            by.append(f"how close each is to “{request.query.strip()}”")
        if rated:
            by.append(f"what people who rated like you ({rated:,} ratings) also liked")
        elif liked:
            by.append("what people who liked " + and_list(liked[:3] + (["others you liked"] if len(liked) > 3 else []))
                      + " also liked")
        by.append("how many people here liked each" + ("" if rated or liked else ", since I don't know your taste yet"))
        fit = (f"Each one fits what you asked for ({'; '.join(labels)})." if labels
               else "You hadn't asked for anything in particular.")
        cards = [(it, reasons.get(it.id, "")) for it in items]
        return f"{fit} I ordered them by {and_list(by)}.\n\n{numbered(cards)}", cards

    def _why_none(self, scene: Scene, state: Any, prefs: Any) -> str | None:
        """"Why no horror?", "how come nothing is from the 80s?": why the last list has none of
        what the question names, one sentence for each: the person refused it; the list does have
        some (which); nothing in the catalog is both it and what was asked; or it was not asked for
        (and the words that ask for it). None before any list, or when the question names no value
        (the turn then goes on as a request: "why no horror?" to start with shows horror)."""
        asked = [(f, v) for group in (prefs.include_all, prefs.include_any) for f, vs in group.items() for v in vs]
        if not state.last_shown or not (asked or prefs.ranges):
            return None
        cat = scene.index.catalog
        shown = [cat.get(i) for i in state.last_shown if i in cat]
        now = state.request().filters.model_copy(update={"exclude_ids": [], "only_ids": None})
        labels = {chip.key: chip.label for chip in self.chips(state, scene.name)}
        asked_for = [labels.get(c.key, c.describe()) for c in state.constraints()
                     if c.kind in ("include", "include_any", "range", "trait")]
        wishes = and_list(asked_for) if asked_for else ""
        said: list[str] = []
        nowhere: list[str] = []  # nothing in the catalog is both what was asked and this
        unasked: list[tuple[str, str]] = []  # (label, words that ask for it)

        def answer(label: str, words: str, refused: str | None, has: Callable[[Any], bool], both: SearchFilters) -> None:
            having = [f"#{n} {it.title}" for n, it in enumerate(shown, 1) if has(it)]
            if refused:
                said.append(refused)
            elif having:
                said.append(f"{and_list(having)} {'is' if len(having) == 1 else 'are'} {label}.")
            elif not scene.index.columns.mask(both.normalized(cat.schema)).any():
                nowhere.append(label)
            else:
                unasked.append((label, words))

        for f, v in asked:
            refused = None
            if v in now.exclude.get(f, []):
                origin = state.origins.get(f"exclude:{f}:{v}")
                said_as = origin.evidence if origin is not None and origin.evidence else ""
                # "nothing violent" refused Horror: say which words did
                how = f"You said no {v}" if not said_as or said_as.casefold() == v.casefold() else \
                    f"You ruled out {v} (“{said_as}”)"
                refused = f"{how}. Say “{v.lower()} is fine” to allow it again."
            both = now.model_copy(update={"include_all": {**now.include_all, f: [*now.include_all.get(f, []), v]}})
            answer(v, v.lower(), refused, lambda it, f=f, v=v: v in it.categorical.get(f, ()), both)
        for f, rng in prefs.ranges.items():
            span = rng.describe()
            label = span if span.startswith(("from", "up to")) else f"from {span}"
            holes = [h for h in now.exclude_ranges.get(f, []) if h.intersect(rng) is not None]
            refused = f"You said nothing from {and_list([h.describe() for h in holes])}." if holes else None
            old = now.ranges.get(f)
            common = rng.intersect(old) if old is not None else rng
            if refused is None and common is None and old is not None:
                refused = f"You asked for {labels.get(f'range:{f}', old.describe())}, so none is {label}."
            both = now.model_copy(update={"ranges": {**now.ranges, f: common or rng}})
            answer(label, prefs.evidence.get(f"range:{f}") or label, refused,
                   lambda it, f=f, rng=rng: rng.contains(it.numeric.get(f)), both)
        if nowhere:
            said.append(f"Nothing in the catalog is both {wishes} and {or_list(nowhere)}." if wishes else
                        f"Nothing in the catalog is {or_list(nowhere)}.")
        if unasked:
            hint = or_list([f"“{words}{' too' if wishes else ''}”" for _, words in unasked])
            said.append((f"The picks follow what you asked for ({wishes}), and none of them is also "
                         if wishes else "You didn't ask for ") + f"{or_list([label for label, _ in unasked])}. "
                        f"Say {hint} to see some.")
        return " ".join(said)

    @staticmethod
    def _resolved(cat: Any, state: Any, refs: Sequence[Any]) -> tuple[list[str], list[str]]:
        """The catalog items `refs` name, in the order said ("how does #2 compare to #3?"), and the
        references among them that point at nothing ("#9" after a list of five)."""
        ids, missing = [], []
        for ref in refs:
            got = [i for i in state.resolve(ref) if i in cat]
            ids += got
            if not got:
                missing.append(ref.describe())
        return list(dict.fromkeys(ids)), missing

    def _count(self, scene: Scene, state: Any, prefs: Any) -> str:
        """How many items meet what is asked: "how many of them are comedies?" counts within the
        list shown; "how many westerns from the 60s are there?" counts the catalog, and its wishes
        stay for the next message ("more" then shows them); "how many of those do you have?"
        counts what the conversation asks. A film to be like orders the picks and is not counted."""
        from convrec.agent.state import DialogueState

        cat = scene.index.catalog
        names = bool(prefs.include_all or prefs.include_any or prefs.exclude or prefs.ranges or prefs.exclude_ranges)
        if names and state.last_shown and re.search(r"\bof (?:them|those|these)\b", prefs.evidence["count_matches"]):
            asked = DialogueState()
            asked.apply(prefs, cat)
            meeting = set(self._matching(scene, asked)[0])
            # "2 of the 5 picks are Comedy", "… are from 1947"
            label = "; ".join(f"from {c.label}" if c.kind == "range" and c.label[:1].isdigit() else c.label
                              for c in self._wish_chips(asked, scene.name))
            hits = [(n, cat.get(i).title) for n, i in enumerate(state.last_shown, 1) if i in meeting]
            total = len(state.last_shown)
            if not hits:
                return f"None of the {total} picks {'is' if total == 1 else 'are'} {label}."
            return (f"{len(hits)} of the {total} picks {'is' if len(hits) == 1 else 'are'} {label}: "
                    + ", ".join(f"#{n} {title}" for n, title in hits) + ".")
        if state.groups and not names:  # "3 westerns and 2 comedies" → "how many of those do you have?"
            counts = [(len(ids), label) for ids, label in (self._matching(scene, g.state) for g in state.groups)]
            return ("This catalog has " + and_list([f"{counted(n, 'title')} for {label}"
                                                    for n, label in counts]) + ".")
        if names or prefs.related or prefs.similar_to:
            state.apply(prefs, cat)
            state.groups = []  # a count of new wishes is no longer a split's
        ids, label = self._matching(scene, state)
        if not label:
            return f"This catalog has {len(cat):,} titles in all."
        shown = len(set(ids) & set(state.shown))
        said = f"This catalog has {counted(len(ids), 'title')} for what you asked ({label})."
        if shown:
            said += f" I've shown {shown} of them."
        if len(ids) > shown:
            said += " Ask for more to see " + ("the others." if shown else "them." if len(ids) > 1 else "it.")
        return said

    def _matching(self, scene: Scene, state: Any) -> tuple[list[str], str]:
        """Every item meeting a state's filters and the relations it asks for (shown ones too), and
        the label of those wishes ("" when there are none; a film to be like is no filter)."""
        cat = scene.index.catalog
        related = self._related_pool(scene, state)
        filters = state.request().filters.model_copy(update={"exclude_ids": []})
        ids = [cat.items[r].id for r in np.flatnonzero(scene.index.columns.mask(filters))]
        if related.pool is not None:
            pool = set(related.pool)
            ids = [i for i in ids if i in pool]
        unrelated = set(related.unrelated)
        ids = [i for i in ids if i not in unrelated]
        return ids, "; ".join(c.label for c in self._wish_chips(state, scene.name) if c.kind != "similar")

    # -- stages -----------------------------------------------------------------------------------
    def _history(self, scene: Scene, record: Any, state: Any) -> tuple[str, list[tuple[Any, str]]]:
        """What convrec knows of this person, as the answer says it: their favourites in the
        catalog's interactions (highest rated, then latest; the latest without ratings), and what
        they liked or turned down in chat and by feedback. Only facts it holds."""
        cat = scene.index.catalog
        rows = None
        if record.user_id is not None and cat.interactions is not None:
            rows = cat.interactions.history(record.user_id)
            rows = rows[[i in cat for i in rows["item"]]]
        feedback = self.sessions.feedback(record.id, record.user_id, scene.name)
        liked = [i for i in dict.fromkeys([*state.liked, *(i for i, v in feedback.items() if v > 0)]) if i in cat]
        disliked = [i for i in dict.fromkeys([*state.disliked, *(i for i, v in feedback.items() if v < 0)]) if i in cat]
        cards: list[tuple[Any, str]] = []
        if rows is not None and len(rows):
            values = rows["value"] if "value" in rows else None
            if values is not None and values.notna().any() and cat.interactions.frame["value"].nunique() > 1:
                top = rows.assign(order=range(len(rows))).sort_values(["value", "order"], ascending=[False, False])
                scale = float(cat.interactions.frame["value"].max())
                cards = [(cat.get(str(r.item)), f"You rated it {float(r.value):g} of {scale:g}"
                          if r.value == r.value else "In your history here, without a rating")  # NaN: unrated
                         for r in top.head(HISTORY_SHOWN).itertuples()]
                head = f"You've rated {len(rows):,} titles here. The ones you rated highest:"
            else:
                latest = rows["item"].tolist()[-HISTORY_SHOWN:]
                cards = [(cat.get(str(i)), "One of your latest here") for i in reversed(latest)]
                head = f"You have {len(rows):,} titles in your history here. The latest:"
        elif record.user_id is not None:
            head = f"I have no history for you ({record.user_id}) in this catalog yet."
        else:
            head = "I don't know your history: you're not signed in as one of this catalog's users."
        paragraphs = [head]
        if cards:
            paragraphs.append(numbered(cards))
        if liked:
            paragraphs.append(f"In chat and by your feedback you liked {and_list([cat.get(i).title for i in liked[-5:]])}.")
        if disliked:
            paragraphs.append(f"You turned down {and_list([cat.get(i).title for i in disliked[-5:]])}.")
        if cards:
            paragraphs.append("I lean on these when I order picks for you; say more like #2 for ones like one of them.")
        else:
            paragraphs.append("I lean on these when I order picks for you." if liked
                              else "Tell me a few titles you liked and I'll go by them in this chat.")
        return "\n\n".join(paragraphs), cards

    @staticmethod
    def _pin_by_age(scene: Scene, prefs: Any, state: Any) -> None:
        """"The oldest one looks good": a reference to the oldest (newest) of the last list, made a
        reference to that item by its year (the parser does not know the list). A question about
        "the oldest movie you have", or asked before any list, is about the whole catalog (among
        items of the same year, the one most people know)."""
        if not any(r.pointer in ("oldest", "newest") for r in prefs.item_refs()):
            return
        year = scene.year_facet
        if year is None:
            return
        cat = scene.index.catalog
        counts = Agent._counts(scene) or {}

        def dated(ids: Iterable[str]) -> list[Any]:
            return [it for i in ids if i in cat and year.facet in (it := cat.get(i)).numeric]

        shown = dated(state.last_shown)
        asks_all = prefs.focus is not None and prefs.focus.pointer in ("oldest", "newest") and (
            prefs.evidence.get("age_of") == "catalog" or not state.last_shown)
        everything = dated(cat.ids) if asks_all else []  # only for a question about the whole catalog

        def pin(ref: Any, among: list[Any]) -> Any:
            if ref is None or ref.pointer not in ("oldest", "newest") or not among:
                return ref
            sign = 1 if ref.pointer == "oldest" else -1
            pick = min(among, key=lambda it: (sign * it.numeric[year.facet], -counts.get(it.id, 0)))
            return ref.model_copy(update={"item_id": pick.id, "title": pick.title, "pointer": None})

        for group in prefs.REF_GROUPS:
            setattr(prefs, group, [pin(r, shown) for r in getattr(prefs, group)])
        prefs.focus = pin(prefs.focus, everything or shown)

    def _ordered(self, scene: Scene, picks: list[Pick], order: str | None) -> list[Pick]:
        """The picks in the order the message asked for ("westerns, oldest first"); as ranked without one."""
        if not order:
            return picks
        place = {p.item.id: p for p in picks}
        return [place[it.id] for it in order_items([p.item for p in picks], order, self._counts(scene))]

    @staticmethod
    def _counts(scene: Scene) -> dict[str, int] | None:
        """How many people interacted with each item (for "most popular first"), if known."""
        if scene.renown is not None:
            return scene.renown.count
        return scene.quality.count if scene.quality is not None else None

    @staticmethod
    def _unsearchable_names(prefs: Any, state: Any) -> str | None:
        """In a catalog of bare titles, the words of a title it lacks would only find look-alike
        titles ("The Matrix" found "Mat' i syn", "Finding Nemo" Sliver): they are no search words.
        When the message then asks nothing else and nothing was shown before, the answer says so
        and asks for something to go by, rather than list anything. (A person's name is still
        searched: the sentence model knows some of them, "Hitchcock" finds Vertigo first.)"""
        named = {w for name in prefs.unknown_titles for w in word_list(name)}
        prefs.query = " ".join(w for w in prefs.query.split() if w not in named)
        asks = (prefs.query or prefs.include_all or prefs.include_any or prefs.exclude or prefs.ranges
                or prefs.similar_to or prefs.liked or prefs.disliked or prefs.related or prefs.traits
                or prefs.quality or prefs.count or prefs.acts or prefs.unknown_people)
        if asks or state.last_shown:
            return None
        verb, it = ("is", "it") if len(prefs.unknown_titles) == 1 else ("are", "them")
        return (f"{and_list([f'“{n}”' for n in prefs.unknown_titles])} {verb} not in this catalog, so I can't tell "
                f"what you liked about {it}. Tell me that (a genre, an era), or a title here like {it}, and I'll go "
                "from there.")

    def _about(self, scene: Scene, session_id: str, state: Any, prefs: Any, message: str) -> ItemAbout | None:
        """The answer to a question about one item, or None when the question points at nothing
        (the turn then goes on as a request and says what it could not match)."""
        ids = state.resolve(prefs.focus) if prefs.focus is not None else []
        cat = scene.index.catalog
        if not ids or ids[0] not in cat:
            return None
        item_id = ids[0]
        # the values the question itself named ("is #2 funny?"), not ones the LLM read into it
        asked = {f: [v for v in (*prefs.include_all.get(f, []), *prefs.include_any.get(f, []))
                     if prefs.evidence.get(f"include:{f}:{v}") != "llm"]
                 for f in {*prefs.include_all, *prefs.include_any}}
        # the reason the latest list (or answer) that showed it gave; "#2" after an answer about #1
        # still finds the list's reason
        why = self._given_reasons(session_id).get(item_id, "")
        unknown = [f"This catalog has no {label}, so I can't say." for label in prefs.unsupported]
        if names_an_award(prefs):
            unknown.append(UNNAMED_AWARDS)
        answers = trait_answers(item_id, prefs.traits, scene.awards, scene.renown, scene.foreign)
        return describe_item(cat, item_id, scene.ranker, scene.quality, asked={f: v for f, v in asked.items() if v},
                             why=why, unknown=unknown, who=bool(WHO.search(message)), awards=scene.awards,
                             answers=answers, good_asked=bool(GOOD.search(message)),
                             awards_answered="awards" in prefs.traits and scene.awards is not None)

    def _query_vector(self, scene: Scene, request: Any, liked: Sequence[str] = ()) -> np.ndarray:
        """Text and referenced items blended into one query vector. A turn with neither ("I liked
        Fargo and Pulp Fiction", "something else") searches near what the person liked in chat."""
        index = scene.index
        vectors = []
        text = request.query.strip()
        if not text and not request.similar_to:
            # Facet names only when nothing better is asked: next to a film to be like, they would
            # pull the search toward the genre's name (the filters already hold the genre).
            wanted = [v for vs in (*request.filters.include_all.values(), *request.filters.include_any.values()) for v in vs]
            text = " ".join(wanted)
        if text:
            vectors.append(index.embed(text))
        references = list(request.similar_to) or ([] if text else list(liked)[-PROFILE_REFERENCES:])
        for item_id in references:
            try:
                vectors.append(index.vector(item_id))
            except UnknownItemError:
                continue
        if not vectors:
            vectors.append(index.embed("a popular, well-loved favourite"))
        vec = np.mean(vectors, axis=0)
        return vec / max(float(np.linalg.norm(vec)), 1e-9)

    def _profile(self, scene: Scene, record: Any, state: Any, request: Any) -> Any:
        """The person for the ranker: catalog history (known user), stored feedback from every
        session of theirs, in-chat likes and the items they referred to."""
        from convrec.ranking import UserProfile

        feedback = self.sessions.feedback(record.id, record.user_id, scene.name)
        # the film a relation starts from is a taste to go by and is not offered ("a sequel to Alien"),
        # unless its whole series was asked for ("the Alien franchise")
        related = [str(r.ref.item_id) for r in request.related if r.ref.item_id and not r.negated and not r.whole]
        liked = {i: 1.0 for i in [*state.liked, *request.similar_to, *related]}
        liked.update({i: 1.0 for i, v in feedback.items() if v > 0})
        disliked = set(state.disliked) | {i for i, v in feedback.items() if v < 0}
        for item_id in disliked:
            liked.pop(item_id, None)
        return UserProfile(user_id=record.user_id, liked=liked, disliked=disliked)

    @staticmethod
    def _related_pool(scene: Scene, state: Any) -> RelatedPool:
        """The items "by the director of Fargo" (None when nothing such was asked) and those "not
        by the director of Fargo", from the ranker's knowledge graph or a catalog facet. One
        relation to several titles means any of them ("by the directors of Fargo and Heat");
        different relations must all hold ("by the director of Fargo, with the actors of Heat").
        A relation the catalog cannot answer (no trustworthy graph, or no other item shares it)
        becomes "like Fargo", said in a note, and stays that way; a refused one it cannot answer is
        said and kept. Each relation kept gives the evidence its picks will name (see `_rank`)."""
        by_relation: dict[str, set[str]] = {}
        unrelated: list[str] = []
        notes: list[str] = []
        asked: list[tuple[dict[str, Any], set[str]]] = []
        cat = scene.index.catalog
        for rel in list(state.related):
            item_id = str(rel.ref.item_id)
            title = cat.get(item_id).title if item_id in cat else item_id
            ids = Agent._related_ids(scene, item_id, rel.relation)
            noun = rel.noun or rel.relation.replace("_", " ")
            if rel.negated:  # the film itself is by its director too
                unrelated += [item_id, *(ids or [])]
                if ids is None:
                    notes.append(f"I don't know the {noun} of {title} here, so I could not leave those out.")
                continue
            if ids and rel.whole:  # "the Star Wars trilogy": Star Wars too
                ids = [item_id, *ids]
            if ids:
                by_relation.setdefault(rel.relation, set()).update(ids)
                ev: dict[str, Any] = {"kind": "kg", "relation": rel.relation, "liked_item": item_id}
                spec = cat.schema.get(rel.relation)
                if spec is not None:  # a facet: "Same author as Dune"
                    ev["phrase"] = f"same {spec.display} as"
                asked.append((ev, set(ids) - {item_id}))  # no "in the same series as" itself
                continue
            state.drop(f"related:{rel.relation}:{item_id}")
            if item_id not in state.similar_to:
                state.similar_to.append(item_id)
            notes.append(f"I don't know the {noun} of {title} here, so I went by {title} itself."
                         if ids is None else f"No other title here has the {noun} of {title}, so I went by {title} itself.")
        pool = set.intersection(*by_relation.values()) if by_relation else None
        return RelatedPool(None if pool is None else sorted(pool), unrelated, notes, asked)

    @staticmethod
    def _related_ids(scene: Scene, item_id: str, relation: str) -> list[str] | None:
        """The other items sharing `relation` with `item_id`: a value of a catalog facet ("the
        author of Dune") or a knowledge-graph link ("the director of Fargo"); None when neither
        can tell."""
        cat = scene.index.catalog
        spec = cat.schema.get(relation)
        if spec is None or spec.kind != "categorical":
            linked = getattr(scene.ranker, "related_items", lambda *_: None)(item_id, relation)
            if relation == SERIES and item_id in cat and (family := cat.title_family(item_id)):
                # the titles name a series the graph may not link ("Alien 3" to Alien)
                return list(dict.fromkeys([*(linked or []), *family]))
            return linked
        values = list(cat.get(item_id).categorical.get(relation, ())) if item_id in cat else []
        if not values:
            return None
        rows = np.flatnonzero(scene.index.columns.mask(SearchFilters(include_any={relation: values})))
        return [cat.items[int(r)].id for r in rows if cat.items[int(r)].id != item_id]

    def _retrieve(self, scene: Scene, state: Any, profile: Any, pool: list[str] | None = None,
                  unrelated: Sequence[str] = (), change: Any = None) -> tuple[Any, list[SearchHit], list[str]]:
        """Candidates under the conversation's hard filters: the semantic search for the request
        (every match, up to `WHOLE_POOL_CANDIDATES`, when it has nothing to embed), plus items close
        to what the person liked (so feedback can surface items the words alone would not). What
        the person disliked (in any of their sessions) is never offered; what they already know
        (their catalog history, what they liked) is left out unless they ask for it ("even ones
        I've seen"), or nothing else matches. A window "older" or "newer" just moved (`change.moved`)
        with nothing new in it opens on its far side ("no, something older" after the 90s, when
        every 80s romantic comedy was shown: before 1990), or, with nothing there either ("newer"
        than the 90s in a catalog that ends in 1998), goes back to the window it moved from;
        either is said in `change.notes`. If nothing matches, relax the softest constraints one at
        a time (for good), saying which."""
        cat = scene.index.catalog

        def with_twins(ids: Iterable[str]) -> list[str]:
            ids = list(ids)
            return [*ids, *(t for i in ids for t in cat.twins(i))]

        # Fixed for the turn (a person's history can be thousands of ids): expanded once.
        history = [] if "show_seen" in state.acts else with_twins(self._known(scene, profile))
        disliked = with_twins(sorted(profile.disliked))

        # "Not by the director of …": fixed for the turn, like the history (relaxation never drops
        # a relation, so neither it nor `pool` changes below).
        refused = with_twins(unrelated)

        kept = {trait: scene.only(trait, value) for trait, value in state.traits.items()}  # fixed for the turn

        def current(hide_history: bool = True, st: Any = state) -> Any:
            request = st.request()
            ids = [*with_twins(request.filters.exclude_ids), *disliked, *refused, *(history if hide_history else ())]
            for trait, value in request.traits.items():  # "hidden gems": the long tail
                ids += sorted(scene.left_out(trait, value))
            # "a popular one", "award-winning", "a foreign film": only those items
            allowed = [keep for trait in request.traits if (keep := kept.get(trait)) is not None]
            only = pool
            for keep in allowed:
                only = [i for i in (sorted(keep) if only is None else only) if i in keep]
            ids = list(dict.fromkeys(ids))
            return request.model_copy(
                update={"filters": request.filters.model_copy(update={"exclude_ids": ids, "only_ids": only})})

        request = current()
        vec = self._query_vector(scene, request, liked=list(profile.liked))
        k = WHOLE_POOL_CANDIDATES if self._nothing_to_embed(request, profile) else CANDIDATES
        hits = scene.index.search(vec, k=k, filters=request.filters)
        relaxed: list[str] = []
        if not hits and history:
            # Everything that matches is already in their history: show it rather than drop a wish.
            shown_again = current(hide_history=False)
            hits = scene.index.search(vec, k=k, filters=shown_again.filters)
            if hits:
                request = shown_again
                relaxed.append(HISTORY_RELAXED)
        for facet, (direction, before) in (change.moved.items() if change is not None and not hits else ()):
            window = state.ranges.get(facet)
            if window is None:
                continue
            trial = state.model_copy(deep=True)
            trial.ranges[facet] = window.model_copy(update={"low": None} if direction < 0 else {"high": None})
            request = current(st=trial)
            hits = scene.index.search(vec, k=k, filters=request.filters)
            if hits:
                state.ranges[facet] = trial.ranges[facet]
                change.notes.append(f"Nothing new fits {window.describe()}, so I went further "
                                    f"{'back' if direction < 0 else 'forward'}: {trial.ranges[facet].describe()}.")
                break
            if before is not None:
                state.ranges[facet] = before
                change.notes.append(f"Nothing new here is {'older' if direction < 0 else 'newer'} than "
                                    f"{before.describe()}, so I kept {before.describe()}.")
                request = current()
                hits = scene.index.search(vec, k=k, filters=request.filters)
                break
        if not hits:
            request = current()
            last_to_drop = scene.last_to_drop
            relaxations = state.relaxations(last_to_drop)
            # A message that narrows ("just the comedies" after a short list) would rather see
            # shown items again than lose what it just asked for; "more" and "something else" want
            # new items, so they keep the order (softest constraint first).
            asked_now = any(c.turn == state.turn for c in state.constraints() if c.kind != "unseen")
            if asked_now and not {"show_more", "something_else"} & set(state.acts):
                # ... and what it just asked for goes last: "from the 80s" after "a fantasy
                # adventure, not for kids" drops Adventure, not the 80s it just asked for; but not
                # after a wish kept till last ("something scarier" after "a cartoon for kids"
                # gives up the scare, not the kids)
                relaxations.sort(key=lambda c: (c.kind != "unseen", c.kept_till_last(last_to_drop),
                                                c.kind != "unseen" and c.turn == state.turn))
            # One constraint given up is better than several: the first whose loss alone lets
            # something through goes; only if none does, they go one by one in that order.
            for constraint in relaxations:
                trial = state.model_copy(deep=True)
                trial.drop(constraint.key)
                request = current(st=trial)
                hits = scene.index.search(vec, k=k, filters=request.filters)
                if hits:
                    relaxed.append(self._relaxed_label(scene, constraint))
                    state.drop(constraint.key)
                    break
            else:
                for constraint in relaxations:
                    relaxed.append(self._relaxed_label(scene, constraint))
                    state.drop(constraint.key)
                    request = current()
                    hits = scene.index.search(vec, k=k, filters=request.filters)
                    if hits:
                        break
        if hits:
            hits += self._profile_candidates(scene, profile, request.filters, vec, {h.item.id for h in hits})
        if request.similar_to and hits:
            hits = self._of_the_same_kind(scene, request, hits)
        if request.avoid and hits:
            # Words under a negation that name no facet value: push similar items down.
            avoid = scene.index.embed(request.avoid)
            hits = [SearchHit(h.item, h.score - 0.5 * max(0.0, float(scene.index.vector(h.item.id) @ avoid))) for h in hits]
        return request, hits, relaxed

    @staticmethod
    def _known(scene: Scene, profile: Any) -> list[str]:
        """What the person already knows: their catalog history, then what they liked here."""
        return [*scene.ranker.history(profile.user_id), *profile.liked]

    @staticmethod
    def _relaxed_label(scene: Scene, constraint: Any) -> str:
        """A dropped constraint as the reply names it: "year 2000–2009 (the release years here run
        1922–1998)" when the range lies wholly outside what the catalog has."""
        said = constraint.describe()
        spec = scene.index.catalog.schema.get(constraint.facet) if constraint.kind == "range" and constraint.facet else None
        rng = constraint.range
        if spec is None or rng is None or spec.low is None or spec.high is None:
            return said
        if (rng.low is not None and rng.low > spec.high) or (rng.high is not None and rng.high < spec.low):
            return f"{said} (the {spec.display}s here run {spec.low:g}–{spec.high:g})"
        return said

    @staticmethod
    def _names_facets(request: Any) -> bool:
        """The request wants facet values (a genre, a range), not only refuses some."""
        f = request.filters
        return bool(f.include_all or f.include_any or f.ranges)

    @classmethod
    def _nothing_to_embed(cls, request: Any, profile: Any) -> bool:
        """The request holds no free words and refers to no item, and it names facet values or the
        person liked nothing in chat: the query vector would be a facet's name or a stock phrase,
        which ranks nothing."""
        if request.query.strip() or request.similar_to:
            return False
        return cls._names_facets(request) or not profile.liked

    def _profile_candidates(
        self, scene: Scene, profile: Any, filters: SearchFilters, query: np.ndarray, seen: set[str]
    ) -> list[SearchHit]:
        """Neighbours of the person's liked items (CF and content blend) that meet the filters,
        scored for the request like the semantic candidates."""
        ranker, cat = scene.ranker, scene.index.catalog
        state, _ = ranker.resolve(profile)
        if not len(state.items):
            return []
        out: list[SearchHit] = []
        excluded = set(filters.exclude_ids)
        for pos in ranker.reference_items(state)[:PROFILE_REFERENCES]:
            for item_id, _ in ranker.similar_items(ranker.data.train.item_ids[int(pos)], k=PROFILE_NEIGHBOURS):
                if item_id in seen:
                    continue
                seen.add(item_id)
                item = cat.get(item_id)
                if filters.matches(item, excluded):
                    out.append(SearchHit(item, float(scene.index.vector(item_id) @ query)))
        return out

    @staticmethod
    def _of_the_same_kind(scene: Scene, request: Any, hits: list[SearchHit]) -> list[SearchHit]:
        """'Something like X': keep the candidates that share two values of the catalog's main
        multi-valued facet (a film's genres) with X, or the one they have, when enough do; else
        those sharing any. Without this, people who liked Toy Story also liking Star Wars and Fargo
        put those first for a new person; with any shared genre, Forrest Gump (Comedy, Romance,
        War) came before the children's films. (Requiring most genres in common, a Dice overlap
        above one half, also left out The Birdcage, a comedy; it cost the simulator 2 of 100 users
        at turn 3, so a one-genre candidate sharing its genre stays.)"""
        cat = scene.index.catalog
        facet = getattr(cat.schema.main_multi, "name", None)
        if facet is None:
            return hits
        kinds: set[str] = set()
        for item_id in request.similar_to:
            if item_id in cat:
                kinds |= set(cat.get(item_id).categorical.get(facet, ()))
        if not kinds:
            return hits
        def shared(h: SearchHit) -> tuple[int, int]:  # (values in common, the candidate's own count)
            own = set(h.item.categorical.get(facet, ()))
            return len(kinds & own), len(own)

        for close in (True, False):  # two genres in common (or all a one-genre candidate has), else any
            need = min(2, len(kinds)) if close else 1
            kept = [h for h in hits if (n := shared(h))[0] >= min(need, n[1]) and n[0] > 0]
            if len(kept) >= (request.count or DEFAULT_PICKS):
                return kept
        return hits

    def _rank(self, scene: Scene, profile: Any, request: Any, hits: list[SearchHit],
              asked: Sequence[tuple[dict[str, Any], set[str]]] = (), habits: Habits | None = None) -> list[Pick]:
        """The picks, best first. `asked` pairs the evidence of each relation asked for ("by the
        director of Fargo") with the items sharing it: a pick among them names that relation.
        `habits` (the person's, when they asked for something unlike their usual) is leaned away from."""
        if not hits:
            return []
        if not (request.query.strip() or request.similar_to or request.avoid):
            # No words (wanted or refused) and no film to be like: the search ran on facet names
            # (which every candidate has: the filters hold them), on what the person liked (which
            # the ranker's own parts weigh) or on a stock phrase. Its scores add no wish, so the
            # ranker gets bare ids and ranks by the person (history, popularity) alone; the
            # request's match is weighed only where there is a request to match.
            ranked = scene.ranker.rank(profile, [h.item.id for h in hits])
        else:
            ranked = scene.ranker.rank(profile, [(h.item.id, h.score) for h in hits])
        ranked = self._lean_on(ranked, self._leaning(scene, request, habits))
        n = request.count or DEFAULT_PICKS
        cat = scene.index.catalog
        chosen: list[Any] = []
        listed: set[str] = set()
        for r in ranked:
            if len(chosen) == n:
                break
            if r.item_id in listed:  # the same item under another id, already picked
                continue
            listed.update((r.item_id, *cat.twins(r.item_id)))
            chosen.append(r)
        # "More like Dave": a reason about Dave, not about another film the person liked.
        against = getattr(scene.ranker, "evidence_against", None)
        anchored = (against([r.item_id for r in chosen], request.similar_to)
                    if request.similar_to and against is not None else [[] for _ in chosen])
        picks: list[Pick] = []
        for r, own in zip(chosen, anchored, strict=True):
            evidence = list(getattr(r, "evidence", []) or [])
            if own:  # the request's reference replaces the links to the rest of the history
                evidence = [*own, *(ev for ev in evidence if ev.get("kind") not in ("kg", "co_liked", "similar_to_liked"))]
            # asked "by the director of Fargo", a pick says so whatever else it shares with Fargo;
            # asked "by the directors of Fargo and Heat", it names the one it shares the director with
            shares = [ev for ev, ids in asked if r.item_id in ids][:1]
            picks.append(Pick(cat.get(r.item_id), float(r.score), dict(r.parts), [*shares, *evidence]))
        return picks

    @staticmethod
    def _leaning(scene: Scene, request: Any, habits: Habits | None = None) -> list[Lean]:
        """What the order leans on beyond the ranker's fit, from the request:
        - "the best", "top rated" and "hidden gems": how well people rated each candidate (the
          shrunk mean rating, `QUALITY_WEIGHT`); each pick's reason then gives its rating;
        - "hidden gems": fewer ratings too (the log of the number of ratings, `OBSCURITY_WEIGHT`
          against it), so the gems are not just the best known of the lesser known;
        - "award-winning" ("award nominated"): the awards the graph counts for each candidate (the
          log of the number won, or of nominations), with the count as the reason;
        - free words ("about dracula"): whether a candidate's text is a close match for them alone
          (not blended with a referenced item), so what the words single out leads, and says so;
        - "the worst rated": against the rating (`WORST_WEIGHT`), with the rating as the reason;
        - "something different from what I usually watch": against how usual a candidate is for the
          person (`UNFAMILIAR_WEIGHT`; see `habits`), and for its rating, so the step away is a
          well-liked one; a pick whose genre the person rarely picks says so;
        - a genre asked for: how much each candidate is of it by the company it keeps
          (`FOCUS_WEIGHT`, `Scene.company`), so "a romance" does not open with Star Wars."""
        leans: list[Lean] = []
        words = request.query.strip()
        if words:
            index, near = scene.index, {}
            wanted = index.embed(words)

            def closeness(item_id: str) -> float:
                if item_id not in near:
                    near[item_id] = float(index.vector(item_id) @ wanted)
                return near[item_id]

            leans.append(Lean(WORDS_WEIGHT, lambda i: float(closeness(i) >= CLOSE_SIMILARITY),
                              lambda i: {"kind": "matches_words", "similarity": round(s, 4)}
                              if (s := closeness(i)) >= CLOSE_SIMILARITY else None))
        quality = scene.quality
        hidden = request.traits.get("renown") == "lesser_known"
        if habits is not None:
            cat = scene.index.catalog
            leans.append(Lean(-UNFAMILIAR_WEIGHT, lambda i: habits.usualness(cat.get(i)), lambda i: habits.evidence(cat.get(i))))
        if request.traits.get("rating") == "worst" and quality is not None:
            leans.append(Lean(-WORST_WEIGHT, quality.of, quality.evidence))
        elif (request.quality or hidden or habits is not None) and quality is not None:
            leans.append(Lean(QUALITY_WEIGHT, quality.of, quality.evidence))
            if hidden:
                leans.append(Lean(-OBSCURITY_WEIGHT, lambda i: float(np.log1p(quality.count.get(i, 0))), None))
                # a gem is rated above the catalog's average, however few found it
                leans.append(Lean(GEM_WEIGHT, lambda i: float(quality.of(i) > quality.prior_mean), None))
        # only a request that names values needs the company (made at the first such request)
        company = scene.company() if request.filters.include_all or request.filters.include_any else None
        if company is not None:
            every = {v for vs in request.filters.include_all.values() for v in vs if v in company.values}
            anyof = {v for vs in request.filters.include_any.values() for v in vs if v in company.values}
            if every or anyof:
                leans.append(Lean(FOCUS_WEIGHT, company.scorer(every, every=True) if every else company.scorer(anyof), None))
        awards, wish = scene.awards, request.traits.get("awards")
        if wish and awards is not None:
            column = 0 if wish == "won" else 1

            def award_evidence(item_id: str) -> dict[str, Any] | None:
                won, nominated = awards.get(item_id, (0, 0))
                return {"kind": "awards", "won": won, "nominated": nominated} if won or nominated else None

            leans.append(Lean(AWARDS_WEIGHT, lambda i: float(np.log1p(awards.get(i, (0, 0))[column])), award_evidence))
        return leans

    @staticmethod
    def _lean_on(ranked: list[Any], leans: Sequence[Lean]) -> list[Any]:
        """The ranker's order blended with each lean (every signal standardized over the
        candidates, then weighted), so what fits the request and the person and also has what was
        asked for (a good rating, an award) comes first; each pick carries the leans' evidence for
        its reason. What the person disliked stays last, as the ranker put it."""
        is_disliked = [any(ev.get("kind") == "disliked" for ev in r.evidence) for r in ranked]
        rest = [r for r, d in zip(ranked, is_disliked, strict=True) if not d]
        disliked = [r for r, d in zip(ranked, is_disliked, strict=True) if d]
        if len(rest) < 2 or not leans:
            return ranked
        # The spread is taken over the items the ranker can score: one that cannot score items
        # without interactions puts them 1000 below (`hybrid.HIDDEN`), and with them in, the spread
        # of its fit was so wide that any lean, however light, decided the whole order.
        scorable = np.flatnonzero([r.parts.get("unseen", 0.0) > HIDDEN / 2 for r in rest])
        z = zscore_rows(np.array([[r.score for r in rest], *([lean.value(r.item_id) for r in rest] for lean in leans)]),
                        sample=scorable if len(scorable) >= 2 else None)
        lean = sum((leans[k].weight * z[k + 1] for k in range(len(leans))), np.zeros(len(rest), np.float32))
        blended = z[0] + lean
        out = []
        for k in np.argsort(-blended, kind="stable"):
            r = rest[int(k)]
            said = [ev for ln in leans if ln.evidence is not None and (ev := ln.evidence(r.item_id)) is not None]
            out.append(ScoredItem(r.item_id, float(blended[k]), {**r.parts, "lean": float(lean[k])}, [*said, *r.evidence]))
        return out + disliked

    @staticmethod
    def _referenced_titles(cat: Any, state: Any, picks: list[Pick]) -> dict[str, str]:
        """Titles a reply may name besides the picks: items the person referred to or liked (or
        asked about by relation: "nothing from the Star Wars series"), including history items the
        ranker's evidence points at."""
        ids = [*state.similar_to, *state.liked, *(str(r.ref.item_id) for r in state.related if r.ref.item_id)]
        ids += [str(ev["liked_item"]) for p in picks for ev in p.evidence if "liked_item" in ev]
        return {i: cat.get(i).title for i in dict.fromkeys(ids) if i in cat}

    def chips(self, state: Any, catalog: str | None = None) -> list[Chip]:
        """What convrec understood, as removable chips: the constraints in force, then the items the
        picks should be like ("like Fargo") or share a relation with ("by the director of Fargo"),
        named by the session's catalog."""
        chips = self._wish_chips(state, catalog)
        if state.groups:  # what every list asked for, then one chip per list: "3 × Action; 1980–1989"
            chips += [Chip(key=f"group:{i}", label=f"{g.count} × {label}", kind="group")
                      for i, (g, label) in enumerate(zip(state.groups, self.group_labels(state, catalog), strict=True))]
        return chips

    def group_labels(self, state: Any, catalog: str | None = None) -> list[str]:
        """What each list of a split asks for beyond what they all ask for: "Action; 1980–1989"."""
        shared = set(joined_labels(self._wish_chips(state, catalog)))
        return ["; ".join(label for label in joined_labels(self._wish_chips(g.state, catalog)) if label not in shared)
                or "anything" for g in state.groups]

    def _wish_chips(self, state: Any, catalog: str | None = None) -> list[Chip]:
        """The chips of a state's own wishes (a split's groups aside)."""
        chips = [Chip(key=c.key, label=chip_label(c), kind=c.kind) for c in state.constraints() if c.kind != "unseen"]
        refs = state.references()
        if refs:
            cat = self.scene(catalog).index.catalog
            for c in refs:
                if c.values[0] in cat:
                    title = cat.get(c.values[0]).title
                    if c.kind == "similar":
                        label = f"like {title}"
                    else:  # "by the director of Fargo", "not by …", "with the actors of Heat", "in the … series"
                        label = f"{'not ' if c.kind == 'unrelated' else ''}{relation_label(str(c.facet), c.evidence, title)}"
                    chips.append(Chip(key=c.key, kind=c.kind, label=label))
        return chips


def joined_labels(chips: Sequence[Chip]) -> list[str]:
    """The chips' labels, with several titles under one wording said once: "like Alien and Die
    Hard", "by the directors of Fargo and Heat" (for the chips "by the directors of Fargo", "by
    the directors of Heat")."""
    out: list[str] = []
    where: dict[tuple[str, str], int] = {}
    titles: dict[tuple[str, str], list[str]] = {}
    for chip in chips:
        if chip.kind == "similar":
            head, sep, title = "like", " ", chip.label.removeprefix("like ")
        elif chip.kind in ("related", "unrelated"):
            head, sep, title = chip.label.partition(" of ")
            sep = " of " if sep else ""
        else:
            head, sep, title = chip.label, "", ""
        key = (chip.kind, head)
        if sep and key in where:
            titles[key].append(title)
            out[where[key]] = f"{head}{sep}{and_list(titles[key])}"
            continue
        if sep:
            where[key], titles[key] = len(out), [title]
        out.append(chip.label)
    return out


def unresolved_notice(refs: Sequence[str], shown: int) -> str:
    """One sentence for references that point at nothing ("#9" after a list of five)."""
    return f"I couldn't tell what you meant by {and_list(list(refs))}: " + (
        f"the last list had {counted(shown, 'pick')}." if shown else "I haven't shown anything yet.")


def unknown_people_notice(names: Sequence[str], refused: bool = False) -> str:
    """One sentence for people named in a catalog that links people to items without names;
    `refused`: they were named to be left out ("without Harrison Ford"), which cannot be done."""
    # no quotes: a quoted phrase reads as a title to the title guard
    if refused:
        return (f"I can't look up {and_list(list(names))} by name here, so I could not leave out their films, only "
                "steer away from the words; to leave out a director's or an actor's films, ask for none by the "
                "director (or with the actors) of a title you know.")
    return (f"I can't look up {and_list(list(names))} by name here, so I went by the words; to follow a "
            "director or an actor, ask for films by the director (or with the actors) of a title you know.")


def unknown_titles_notice(names: Sequence[str], known: Sequence[str] = (), searched: bool = True) -> str:
    """One sentence for titles the person named that the catalog does not have; `known` are the
    titles named beside them that it does have (what the picks then lean on); `searched`: whether
    the names were searched as words (in a catalog of bare titles they would only find look-alikes)."""
    verb = "is" if len(names) == 1 else "are"
    if known:
        lean = f"so I went by {and_list(list(dict.fromkeys(known)))}"
    elif searched:
        lean = "so I went by the words instead"
    else:  # the picks follow the rest of the wishes (the answer that asks for some has its own words)
        lean = "so the picks follow only your other wishes"
    return f"{and_list([f'“{n}”' for n in names])} {verb} not in this catalog, {lean}."


def names_an_award(prefs: Any) -> bool:
    """Whether the message asked for an award by name ("an Oscar winner"), which the graph cannot tell."""
    return "awards" in prefs.traits and bool(NAMED_AWARD.search(prefs.evidence.get("trait:awards", "")))


def chip_label(constraint: Any) -> str:
    """Short words for one understood constraint: 'Sci-Fi', 'Comedy or Drama', 'not War',
    '1990–1999' (years need no name), 'price up to 20'."""
    c = constraint
    if c.kind == "include":
        return c.values[0]
    if c.kind == "include_any":
        return " or ".join(c.values)
    if c.kind == "exclude":
        return f"not {c.values[0]}"
    if c.kind == "exclude_range" and c.range is not None:
        return f"not from {'' if c.facet == 'year' else f'{c.facet} '}{c.range.describe()}"
    if c.kind == "range" and c.range is not None:
        return f"{'' if c.facet == 'year' else f'{c.facet} '}{c.range.describe()}"
    return c.describe()
