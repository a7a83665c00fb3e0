"""A user simulator over held-out MovieLens interactions, with baselines on the same users and turns.

Protocol (`simulate`):

1. The offline split of Stage 2 (`convrec.eval.split.make_split`, its default protocol) is made
   from the index's interactions, and the default ranker is trained and tuned on its training
   and validation parts only, so the CF model never saw a test interaction.
2. Test users are drawn (seeded) among users with a *liked* test interaction (rating ≥ 4) on a
   movie with a genre and a year; the target is one such movie, drawn at random.
3. The simulated user reveals the target one attribute per turn: a genre (rarest first), its
   decade, a movie from their own training history that they liked and that shares the most
   genres with the target (then the nearest year), another genre or liked movie, then a
   five-year window. A message never contains a word of the target's title (phrasings that
   would are skipped; `leaks` checks it). Each message asks for 10 items.
4. Every system plays the same messages, up to `max_turns`, showing 10 items per turn and never
   the same item twice; the user stops at the first turn whose list holds the target in its top 10.
   Hit@k by turn t is the share of users whose target appeared in the top k of some list by turn t.
   Mean turns counts the turn of success, and `max_turns` for users never served (the usual
   "average turns" of conversational-recommendation papers).

Systems:

- `convrec`: the full agent (`Agent.chat`), with the split-trained ranker and the user's id;
- `popularity`: the most popular items (training counts) under the same hard filters convrec's
  parser and dialogue state derived after each turn;
- `semantic_only`: dense retrieval alone: the conversation so far embedded, nearest items, no
  filters, no ranking;
- `cf_only`: the split-trained ALS model alone over the user's training history, ignoring the chat;
- `llm_zero_shot`: the local LLM alone, asked for 10 movie titles given the conversation so far
  (the "LLMs as zero-shot conversational recommenders" baseline), its titles fuzzy-matched to the
  catalog with rapidfuzz; titles it names that are not in the catalog are counted.

Baselines never show items from the user's seen history (training and validation parts), as in
the offline protocol; convrec is measured as it serves.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convrec.errors import ConvrecError

SYSTEMS = ("convrec", "cf_only", "semantic_only", "popularity", "llm_zero_shot")
LIKED_RATING = 4.0
PER_TURN = 10
KS = (1, 5, 10)

# --- the simulated user's words -----------------------------------------------------------------

#: How a MovieLens genre is said in a sentence ("an animated movie", "a film noir").
GENRE_WORDS = {
    "Animation": "animated",
    "Children's": "children's",
    "Film-Noir": "film noir",
    "Sci-Fi": "sci-fi",
    "Romance": "romantic",
}

PHRASES: dict[str, list[str]] = {
    "genre": ["I'm in the mood for {a} {genre} movie.", "Can you recommend {a} {genre} film?",
              "I'd like to watch {a} {genre} movie tonight."],
    "more_genre": ["It should also be {a} {genre} movie.", "Make it {a} {genre} one too.",
                   "Ideally also {a} {genre} film."],
    "era": ["Something from the {decade}.", "Preferably from the {decade}.", "I'd like one from the {decade}."],
    "similar": ["Something like {title}.", "Something similar to {title}.", "I want something like {title}."],
    "window": ["Ideally released between {low} and {high}.", "Released between {low} and {high}, if possible."],
}
COUNT_PHRASES = ["Show me 10.", "Give me 10 options.", "Show me ten."]
#: The order attributes are revealed in; "genre"/"similar" take the next one not yet revealed.
REVEAL_ORDER = ("genre", "era", "similar", "genre", "window", "similar", "genre")

#: Words that do not count as giving away a title ("the" in "from the 90s").
TITLE_STOPWORDS = set(
    "the a an of and in on to for from with at by is it its or as".split()
)


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", text.casefold()).split()


def title_words(title: str) -> set[str]:
    """The words of a title that a simulated user must never say (stopwords and single letters
    aside; single digits count)."""
    return {w for w in _words(title) if w not in TITLE_STOPWORDS and (len(w) > 1 or w.isdigit())}


def leaks(message: str, title: str) -> list[str]:
    """Words of `title` that appear in `message` (empty when it gives nothing away)."""
    forbidden = title_words(title)
    return sorted({w for w in _words(message) if w in forbidden})


def spoken_title(title: str) -> str:
    """A title as a person says it: without a trailing alternate title in parentheses
    ("Shanghai Triad (Yao a yao yao dao waipo qiao)" → "Shanghai Triad")."""
    short = re.sub(r"\s*\([^()]*\)\s*$", "", title).strip()
    return short or title


def decade_words(year: float) -> str:
    decade = int(year) // 10 * 10
    return f"{decade % 100:02d}s" if 1920 <= decade <= 1990 else f"{decade}s"


def genre_phrase(genre: str) -> tuple[str, str]:
    word = GENRE_WORDS.get(genre, genre.lower())
    return ("an" if word[0] in "aeiou" else "a"), word


@dataclass
class Stated:
    """What the user has said so far, as constraints every shown item should meet."""

    genres: list[str] = field(default_factory=list)
    low: float | None = None
    high: float | None = None
    similar: list[str] = field(default_factory=list)

    def holds(self, item: Any, genre_facet: str, year_facet: str) -> bool:
        values = set(item.categorical.get(genre_facet, ()))
        if not set(self.genres) <= values:
            return False
        if self.low is not None or self.high is not None:
            year = item.numeric.get(year_facet)
            if year is None or (self.low is not None and year < self.low) or (self.high is not None and year > self.high):
                return False
        return item.id not in self.similar


@dataclass
class Utterance:
    text: str
    reveals: str  # genre, more_genre, era, similar, window
    value: str
    stated: Stated


@dataclass
class SimUser:
    """One simulated person: who, what they look for, and what they will say."""

    user_id: str
    row: int
    target: str  # item id
    seen: set[str]  # item ids in the user's training and validation parts
    utterances: list[Utterance]
    target_title: str = ""


class UserBuilder:
    """Makes simulated users from an offline split (see the module docstring)."""

    def __init__(self, catalog: Any, genre_facet: str = "genres", year_facet: str = "year", seed: int = 42) -> None:
        self.catalog = catalog
        self.genre_facet = genre_facet
        self.year_facet = year_facet
        self.seed = seed
        counts: dict[str, int] = {}
        for item in catalog.items:
            for g in item.categorical.get(genre_facet, ()):
                counts[g] = counts.get(g, 0) + 1
        self.genre_count = counts

    def _describable(self, item: Any) -> bool:
        return bool(item.categorical.get(self.genre_facet)) and item.numeric.get(self.year_facet) is not None

    def build(self, split: Any, ratings: dict[tuple[str, str], float], n_users: int, max_turns: int) -> list[SimUser]:
        """Draw up to `n_users` users with a liked, describable test item and script their turns."""
        rng = np.random.default_rng(self.seed)
        train = split.train
        item_ids = train.item_ids
        test = split.test.tocsr()
        seen_m = split.seen_for_test.tocsr()
        candidates: list[tuple[int, list[str], list[str]]] = []
        for row in range(test.shape[0]):
            uid = train.user_ids[row]
            tests = [item_ids[j] for j in test.indices[test.indptr[row]:test.indptr[row + 1]]]
            liked = [i for i in tests if ratings.get((uid, i), 0.0) >= LIKED_RATING and self._describable(self.catalog.get(i))]
            history = [item_ids[j] for j in train.row_items(row)]
            liked_history = [i for i in history if ratings.get((uid, i), 0.0) >= LIKED_RATING]
            if liked and liked_history:
                candidates.append((row, sorted(liked), liked_history))
        order = rng.permutation(len(candidates))
        users: list[SimUser] = []
        for idx in order:
            if len(users) >= n_users:
                break
            row, liked, liked_history = candidates[int(idx)]
            uid = train.user_ids[row]
            target = liked[int(rng.integers(len(liked)))]
            utterances = self.script(target, liked_history, ratings, uid, max_turns, rng)
            if not utterances:
                continue
            seen = {item_ids[j] for j in seen_m.indices[seen_m.indptr[row]:seen_m.indptr[row + 1]]}
            users.append(SimUser(uid, row, target, seen, utterances, self.catalog.get(target).title))
        return users

    def similar_liked(self, target: str, liked_history: Sequence[str], ratings: dict[tuple[str, str], float],
                      user_id: str) -> list[str]:
        """The user's liked training movies that share a genre with the target, most alike first
        (share of genres in common, then the nearest year)."""
        t = self.catalog.get(target)
        tg = set(t.categorical.get(self.genre_facet, ()))
        ty = t.numeric.get(self.year_facet) or 0.0

        def key(item_id: str) -> tuple[float, float, float, str]:
            it = self.catalog.get(item_id)
            g = set(it.categorical.get(self.genre_facet, ()))
            jac = len(tg & g) / max(1, len(tg | g))
            year = it.numeric.get(self.year_facet)
            gap = abs(year - ty) if year is not None else 1e9
            return (-jac, gap, -ratings.get((user_id, item_id), 0.0), item_id)

        shared = [i for i in liked_history if tg & set(self.catalog.get(i).categorical.get(self.genre_facet, ()))]
        return sorted(shared, key=key)

    def script(self, target: str, liked_history: Sequence[str], ratings: dict[tuple[str, str], float],
               user_id: str, max_turns: int, rng: np.random.Generator) -> list[Utterance]:
        """The user's messages for one target, one attribute each, none giving a title word away."""
        item = self.catalog.get(target)
        title = item.title
        genres = sorted(item.categorical.get(self.genre_facet, ()), key=lambda g: (self.genre_count.get(g, 0), g))
        year = float(item.numeric[self.year_facet])
        similar = [i for i in self.similar_liked(target, liked_history, ratings, user_id) if i != target]
        stated = Stated()
        out: list[Utterance] = []
        said_genres = 0
        for step in REVEAL_ORDER:
            if len(out) >= max_turns:
                break
            options: list[tuple[str, str, Stated]] = []  # (kind, value, new stated) candidates in preference order
            if step == "genre":
                while said_genres < len(genres) and not options:
                    g = genres[said_genres]
                    said_genres += 1
                    kind = "genre" if not stated.genres else "more_genre"
                    options.append((kind, g, Stated([*stated.genres, g], stated.low, stated.high, stated.similar)))
            elif step == "era":
                decade = int(year) // 10 * 10
                low = max(stated.low or decade, decade)
                high = min(stated.high or decade + 9, decade + 9)
                options.append(("era", decade_words(year), Stated(stated.genres, low, high, stated.similar)))
            elif step == "window":
                low = max(stated.low or year - 2, year - 2)
                high = min(stated.high or year + 2, year + 2)
                options.append(("window", f"{year - 2:g}-{year + 2:g}", Stated(stated.genres, low, high, stated.similar)))
            elif step == "similar":
                for sid in similar:
                    if sid in stated.similar:
                        continue
                    if leaks(self.catalog.get(sid).title, title):
                        continue
                    options.append(("similar", sid, Stated(stated.genres, stated.low, stated.high, [*stated.similar, sid])))
                    break
            for kind, value, new_stated in options:
                text = self._phrase(kind, value, year, title, rng)
                if text is None:
                    continue
                out.append(Utterance(text, kind, value, new_stated))
                stated = new_stated
                break
        return out

    def _phrase(self, kind: str, value: str, year: float, title: str, rng: np.random.Generator) -> str | None:
        """A message for one attribute plus the ask for 10 items, or None if every phrasing leaks."""
        templates = list(PHRASES[kind])
        counts = list(COUNT_PHRASES)
        rng.shuffle(templates)
        for template in templates:
            if kind in ("genre", "more_genre"):
                a, word = genre_phrase(value)
                body = template.format(a=a, genre=word)
            elif kind == "era":
                body = template.format(decade=value)
            elif kind == "window":
                body = template.format(low=f"{year - 2:g}", high=f"{year + 2:g}")
            else:
                body = template.format(title=spoken_title(self.catalog.get(value).title))
            for count in counts:
                text = f"{body} {count}"
                if not leaks(text, title):
                    return text
        return None


# --- systems -------------------------------------------------------------------------------------


class System:
    """One recommender under test: `start` a user's episode, then one ranked list per turn."""

    name = "system"

    def start(self, user: SimUser) -> None:
        self.shown: set[str] = set()

    def turn(self, user: SimUser, t: int) -> list[str]:
        raise NotImplementedError

    def _top(self, scores: np.ndarray, item_ids: Sequence[str], user: SimUser, k: int = PER_TURN) -> list[str]:
        """The k best items by `scores` (−inf = not allowed), skipping seen and shown items."""
        order = np.argsort(-scores, kind="stable")
        out = []
        for j in order:
            if not np.isfinite(scores[j]):
                break
            item_id = item_ids[int(j)]
            if item_id in user.seen or item_id in self.shown:
                continue
            out.append(item_id)
            if len(out) == k:
                break
        self.shown.update(out)
        return out


class ConvrecSystem(System):
    """The full agent, one session per simulated user."""

    name = "convrec"

    def __init__(self, agent: Any, counter: Any) -> None:
        self.agent = agent
        self.counter = counter
        self.states: list[dict[str, Any]] = []
        self.hallucinated: list[str] = []
        self.turn_seconds: list[float] = []
        self.seen_shown = 0  # items shown that the user had already seen (history)
        self.items_shown = 0

    def start(self, user: SimUser) -> None:
        super().start(user)
        self.sid = self.agent.new_session(user_id=user.user_id)
        self.states = []
        self.said: list[str] = []
        self.shown_list: list[str] = []

    def turn(self, user: SimUser, t: int) -> list[str]:
        message = user.utterances[t].text
        t0 = time.perf_counter()
        reply = self.agent.chat(self.sid, message)
        self.turn_seconds.append(time.perf_counter() - t0)
        ids = [it.id for it in reply.items]
        self.said.append(message)
        self.shown_list += ids
        state = self.agent.sessions.get(self.sid).state or {}
        self.states.append(state)
        from convrec.eval.dialogues import _state_refs

        self.hallucinated += self.counter.count(reply.text, [*self.shown_list, *_state_refs(state), *reply.cited], "\n".join(self.said))
        self.items_shown += len(ids)
        self.seen_shown += sum(i in user.seen for i in ids)
        return ids


class FilterTrajectory:
    """The hard filters in force after each turn of one user's dialogue: convrec's own dialogue
    state where convrec played that turn, else the same parser and state continued."""

    def __init__(self, scene: Any, user: SimUser, played: Sequence[dict[str, Any]]) -> None:
        from convrec.agent.state import DialogueState

        self.scene = scene
        self.user = user
        self.states = [DialogueState.model_validate(s) for s in played]
        self._state_cls = DialogueState

    def filters(self, t: int) -> Any:
        while len(self.states) <= t:
            n = len(self.states)
            state = self.states[-1].model_copy(deep=True) if self.states else self._state_cls()
            prefs = self.scene.parser.parse(self.user.utterances[n].text, state)
            state.apply(prefs, self.scene.index.catalog)
            self.states.append(state)
        filters = self.states[t].request().filters
        return filters.model_copy(update={"exclude_ids": []})


class PopularitySystem(System):
    """Training-set popularity under the filters convrec derived (see `FilterTrajectory`)."""

    name = "popularity"

    def __init__(self, catalog: Any, counts: np.ndarray, item_ids: Sequence[str]) -> None:
        self.catalog = catalog
        self.counts = np.asarray(counts, dtype=np.float64)
        self.item_ids = list(item_ids)
        self.trajectory: FilterTrajectory | None = None

    def turn(self, user: SimUser, t: int) -> list[str]:
        assert self.trajectory is not None
        filters = self.trajectory.filters(t)
        mask = np.array([filters.matches(self.catalog.get(i)) for i in self.item_ids])
        scores = np.where(mask, self.counts, -np.inf)
        return self._top(scores, self.item_ids, user)


class SemanticSystem(System):
    """Dense retrieval alone: the conversation so far, embedded, against every item."""

    name = "semantic_only"

    def __init__(self, embeddings: np.ndarray, item_ids: Sequence[str],
                 encode: Callable[[list[str]], np.ndarray]) -> None:
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        self.item_ids = list(item_ids)
        self.encode = encode
        self._vectors: dict[str, np.ndarray] = {}

    @staticmethod
    def text(user: SimUser, t: int) -> str:
        return " ".join(u.text for u in user.utterances[: t + 1])

    def prepare(self, users: Sequence[SimUser], max_turns: int) -> None:
        """Embed every conversation prefix in one batch (much faster than one at a time)."""
        texts = sorted({self.text(u, t) for u in users for t in range(min(max_turns, len(u.utterances)))})
        if texts:
            vectors = np.asarray(self.encode(texts), dtype=np.float32)
            self._vectors.update(zip(texts, vectors))

    def turn(self, user: SimUser, t: int) -> list[str]:
        text = self.text(user, t)
        vector = self._vectors.get(text)
        if vector is None:
            vector = np.asarray(self.encode([text]), dtype=np.float32)[0]
        return self._top(self.embeddings @ vector, self.item_ids, user)


class CFSystem(System):
    """The split-trained CF model alone (it never reads the conversation)."""

    name = "cf_only"

    def __init__(self, part: Any, item_ids: Sequence[str]) -> None:
        self.part = part
        self.item_ids = list(item_ids)

    def start(self, user: SimUser) -> None:
        super().start(user)
        scores = np.asarray(self.part.score_users(np.array([user.row]))[0], dtype=np.float64)
        trained = np.asarray(self.part.item_trained, dtype=bool)
        self.scores = np.where(trained, scores, -np.inf)  # pure CF cannot score items nobody rated

    def turn(self, user: SimUser, t: int) -> list[str]:
        return self._top(self.scores, self.item_ids, user)


ZERO_SHOT_SYSTEM = (
    "You are a movie recommender. Read the conversation and recommend exactly 10 movies the user "
    "will like. Answer with the movie titles only."
)
ZERO_SHOT_SCHEMA = {
    "type": "object",
    "properties": {
        "titles": {"type": "array", "items": {"type": "string", "maxLength": 80}, "minItems": 10, "maxItems": 10}
    },
    "required": ["titles"],
    "additionalProperties": False,
}


_ROMAN = {"ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"}


def _sequel_marks(key: str) -> set[str]:
    return {w for w in key.split() if w.isdigit() or w in _ROMAN}


class CatalogMatcher:
    """Fuzzy matching of free-text movie titles to catalog items (rapidfuzz)."""

    def __init__(self, catalog: Any, cutoff: float = 88.0) -> None:
        self.catalog = catalog
        self.cutoff = cutoff
        self.keys: list[str] = []
        self.ids: list[str] = []
        for item in catalog.items:
            self.keys.append(" ".join(_words(item.title)))
            self.ids.append(item.id)

    def match(self, text: str) -> str | None:
        """The catalog item a title names, or None. A trailing "(1995)" prefers that year."""
        from rapidfuzz import fuzz, process

        year = None
        m = re.search(r"\((\d{4})\)\s*$", text)
        if m:
            year = float(m.group(1))
            text = text[: m.start()]
        key = " ".join(_words(text))
        if len(key) < 2:
            return None
        hits = process.extract(key, self.keys, scorer=fuzz.ratio, score_cutoff=self.cutoff, limit=5)
        # A sequel is another film: "Part III" must not match "Part II", nor "2" match "3".
        numbers = _sequel_marks(key)
        hits = [h for h in hits if _sequel_marks(h[0]) == numbers]
        if not hits:
            return None
        best = max(hits, key=lambda h: (h[1] + (5 if year is not None and self.catalog.get(self.ids[h[2]]).numeric.get("year") == year else 0)))
        return self.ids[best[2]]


class LLMZeroShotSystem(System):
    """The LLM alone names 10 movies from its own knowledge; names are matched to the catalog."""

    name = "llm_zero_shot"

    def __init__(self, llm: Any, matcher: CatalogMatcher, max_tokens: int = 200) -> None:
        self.llm = llm
        self.matcher = matcher
        self.max_tokens = max_tokens
        self.named = 0  # distinct titles named, per turn
        self.repeated = 0  # titles named twice in one answer
        self.not_in_catalog: list[str] = []
        self.call_seconds: list[float] = []

    def start(self, user: SimUser) -> None:
        super().start(user)
        self.messages: list[dict[str, str]] = [{"role": "system", "content": ZERO_SHOT_SYSTEM}]

    def turn(self, user: SimUser, t: int) -> list[str]:
        self.messages.append({"role": "user", "content": user.utterances[t].text})
        t0 = time.perf_counter()
        try:
            answer = self.llm.generate_json(self.messages, ZERO_SHOT_SCHEMA, max_tokens=self.max_tokens)
            titles = [str(x).strip() for x in answer.get("titles", []) if str(x).strip()]
        except ConvrecError:
            titles = []
        self.call_seconds.append(time.perf_counter() - t0)
        self.messages.append({"role": "assistant", "content": "\n".join(titles) or "(no answer)"})
        distinct = list(dict.fromkeys(titles))
        self.repeated += len(titles) - len(distinct)
        out: list[str] = []
        for title in distinct:
            self.named += 1
            item_id = self.matcher.match(title)
            if item_id is None:
                self.not_in_catalog.append(title)
                continue
            if item_id in user.seen or item_id in self.shown or item_id in out:
                continue
            out.append(item_id)
        self.shown.update(out)
        return out[:PER_TURN]


# --- running -------------------------------------------------------------------------------------


@dataclass
class Episode:
    lists: list[list[str]]
    first_hit: dict[int, int | None]  # k -> 1-based turn of the first top-k hit
    satisfied: int = 0
    shown: int = 0


def play(system: System, user: SimUser, max_turns: int, catalog: Any, genre_facet: str, year_facet: str) -> Episode:
    """One episode: the user's messages until the target is in a top 10 or the turns run out."""
    system.start(user)
    lists: list[list[str]] = []
    first: dict[int, int | None] = {k: None for k in KS}
    satisfied = shown = 0
    for t in range(min(max_turns, len(user.utterances))):
        items = system.turn(user, t)[:PER_TURN]
        lists.append(items)
        stated = user.utterances[t].stated
        for item_id in items:
            shown += 1
            satisfied += int(item_id in catalog and stated.holds(catalog.get(item_id), genre_facet, year_facet))
        for k in KS:
            if first[k] is None and user.target in items[:k]:
                first[k] = t + 1
        if first[PER_TURN] is not None:
            break
    return Episode(lists, first, satisfied, shown)


@dataclass
class SimulationResult:
    """Everything a simulator run measured (`to_json` is what reports and the figures file use)."""

    users: list[SimUser]
    max_turns: int
    episodes: dict[str, list[Episode]]
    seconds: dict[str, float]
    setup_s: float
    protocol: str
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    trained: Any = field(default=None, repr=False)  # (split, ranker, info), for reuse

    def hit_by_turn(self, system: str, k: int) -> list[float]:
        eps = self.episodes[system]
        return [
            round(float(np.mean([e.first_hit[k] is not None and e.first_hit[k] <= t for e in eps])), 4) if eps else 0.0
            for t in range(1, self.max_turns + 1)
        ]

    def mean_turns(self, system: str) -> float:
        eps = self.episodes[system]
        return round(float(np.mean([e.first_hit[PER_TURN] or self.max_turns for e in eps])), 3) if eps else 0.0

    def constraint_satisfaction(self, system: str) -> float | None:
        eps = self.episodes[system]
        shown = sum(e.shown for e in eps)
        return round(sum(e.satisfied for e in eps) / shown, 4) if shown else None

    def to_json(self) -> dict[str, Any]:
        systems = list(self.episodes)
        out: dict[str, Any] = {
            "users": len(self.users),
            "max_turns": self.max_turns,
            "per_turn": PER_TURN,
            "protocol": self.protocol,
            "hit_at_1_by_turn": {s: self.hit_by_turn(s, 1) for s in systems},
            "hit_at_5_by_turn": {s: self.hit_by_turn(s, 5) for s in systems},
            "hit_at_10_by_turn": {s: self.hit_by_turn(s, 10) for s in systems},
            "mean_turns": {s: self.mean_turns(s) for s in systems},
            "constraint_satisfaction": {s: self.constraint_satisfaction(s) for s in systems},
            "seconds": {s: round(v, 2) for s, v in self.seconds.items()},
            "setup_s": round(self.setup_s, 2),
            "reveal_share_by_turn": self.reveal_shares(),
            "notes": self.notes,
            **self.extra,
        }
        return out

    def reveal_shares(self) -> list[dict[str, float]]:
        """What the users revealed at each turn (share of users still talking)."""
        out = []
        for t in range(self.max_turns):
            kinds = [u.utterances[t].reveals for u in self.users if len(u.utterances) > t]
            out.append({k: round(kinds.count(k) / len(kinds), 3) for k in sorted(set(kinds))} if kinds else {})
        return out

    def transcripts(self, limit: int = 5) -> list[dict[str, Any]]:
        """A few users' scripts and what each system showed, for the report."""
        out = []
        for n, user in enumerate(self.users[:limit]):
            out.append({
                "user": user.user_id,
                "target": user.target,
                "target_title": user.target_title,
                "messages": [u.text for u in user.utterances[: self.max_turns]],
                "lists": {s: eps[n].lists for s, eps in self.episodes.items()},
            })
        return out


def user_ratings(catalog: Any) -> dict[tuple[str, str], float]:
    """(user, item) → the highest rating given (the interactions' value column)."""
    frame = catalog.interactions.frame
    grouped = frame.groupby(["user", "item"], sort=False)["value"].max()
    return {(str(u), str(i)): float(v) for (u, i), v in grouped.items()}


def _ranking_fingerprint() -> str:
    """A short hash of the ranking and split code, so a cached ranker is never reused after the
    code that trains it changed."""
    import hashlib

    import convrec.eval.split as split_module
    import convrec.ranking as ranking_package

    digest = hashlib.sha256()
    files = sorted(Path(ranking_package.__file__).parent.rglob("*.py")) + [Path(split_module.__file__)]
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def train_on_split(
    index: Any,
    seed: int = 42,
    quick: bool = False,
    log: Callable[[str], None] = lambda m: None,
    cache_dir: Path | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Stage 2's offline split of the index's interactions, and the default ranker trained and
    tuned on its training and validation parts (never its test part).

    With `cache_dir`, the trained ranker is saved there under a name made of the index build,
    the seed, the model and a fingerprint of the ranking code, and loaded from there by later
    runs (the split itself is deterministic and made again)."""
    from convrec.eval.split import make_split
    from convrec.ranking.hybrid import HybridRanker
    from convrec.ranking.store import save_atomic
    from convrec.ranking.train import DEFAULT_MODEL, TrainOptions, fit_ranker, ranking_data

    data = ranking_data(index, seed=seed)
    split = make_split(data.train, seed=seed)
    split_data = dataclasses.replace(data, train=split.train)
    info: dict[str, Any] = {"model": DEFAULT_MODEL, "split": split.description, "quick": quick}
    folder = None
    if cache_dir is not None:
        folder = Path(cache_dir) / (
            f"{index.name}-{index.build_id}-{DEFAULT_MODEL}-seed{seed}{'-quick' if quick else ''}-{_ranking_fingerprint()}"
        )
        if (folder / "ranker.json").exists():
            try:
                ranker = HybridRanker.load(folder, split_data)
                log(f"Loaded the split-trained ranker from {folder}.")
                return split, ranker, {**info, "cached": True}
            except (OSError, ValueError, KeyError, ConvrecError):
                log(f"The cached ranker in {folder} cannot be read; training again.")
    t0 = time.perf_counter()
    ranker, _report = fit_ranker(
        DEFAULT_MODEL, split_data, split, TrainOptions(quick=quick, seed=seed), embed=index.embedder.encode, log=log
    )
    info["train_s"] = round(time.perf_counter() - t0, 1)
    if folder is not None:
        save_atomic(folder, ranker.save)
    return split, ranker, {**info, "cached": False}


def simulate(
    settings: Any,
    n_users: int = 100,
    max_turns: int = 5,
    systems: Iterable[str] = SYSTEMS,
    agent_llm: Any = None,
    zero_shot_llm: Any = None,
    seed: int = 42,
    quick_training: bool = False,
    progress: bool = False,
    log: Callable[[str], None] = lambda m: None,
    work_dir: Path | None = None,
    trained: tuple[Any, Any, dict[str, Any]] | None = None,
    cache: bool = True,
    wrap_ranker: Callable[[Any, Any], Any] | None = None,
) -> SimulationResult:
    """Run the simulator (see the module docstring) for the systems named in `systems`.

    `agent_llm` is the LLM backend the agent uses (None = rules-only parsing and template
    replies); `zero_shot_llm` is the backend the `llm_zero_shot` baseline asks (required when
    that system is requested). `trained` reuses what `train_on_split` returned for the same
    index and seed (a second run over a subset of the users need not train again); with
    `cache`, the split-trained ranker is kept under `home/eval-cache` for later runs.
    `wrap_ranker(ranker, split)` may return a stand-in the agent ranks with (what-if studies)."""
    import tempfile

    from convrec.agent.sessions import SessionStore
    from convrec.agent.turn import Agent
    from convrec.eval.dialogues import HallucinationCounter

    asked = set(systems)
    unknown = asked - set(SYSTEMS)
    systems = [s for s in SYSTEMS if s in asked]
    if unknown:
        raise ConvrecError(f"Unknown system(s) {', '.join(sorted(unknown))}; choose from {', '.join(SYSTEMS)}.")
    if not 1 <= max_turns <= len(REVEAL_ORDER):
        raise ConvrecError(f"max_turns must be between 1 and {len(REVEAL_ORDER)}.")
    if n_users < 1:
        raise ConvrecError("Simulate at least one user.")
    if "llm_zero_shot" in systems and zero_shot_llm is None:
        raise ConvrecError("The llm_zero_shot baseline needs a language model; leave it out or configure one.")

    t_setup = time.perf_counter()
    tmp = tempfile.TemporaryDirectory(prefix="convrec-sim-") if work_dir is None else None
    work = Path(tmp.name) if tmp is not None else Path(work_dir)  # type: ignore[arg-type]
    work.mkdir(parents=True, exist_ok=True)
    agent = Agent(settings, llm=agent_llm, sessions=SessionStore(work / "sim-sessions.sqlite"))
    scene = agent.scene()
    index = scene.index
    catalog = index.catalog
    if catalog.interactions is None or len(catalog.interactions) == 0:
        raise ConvrecError(f"Catalog {catalog.name!r} has no interactions; the simulator needs held-out ones.")
    genre_facet = "genres" if catalog.schema.get("genres") else (catalog.schema.categorical[0].name if catalog.schema.categorical else None)
    year_facet = "year" if catalog.schema.get("year") else None
    if genre_facet is None or year_facet is None:
        raise ConvrecError(f"The simulator needs a genre-like and a year facet; {catalog.name!r} lacks one.")
    if trained is None:
        log("Training the ranker on the offline split (the target interactions are held out) …")
        trained = train_on_split(index, seed=seed, quick=quick_training, log=log,
                                 cache_dir=Path(settings.home) / "eval-cache" if cache else None)
    split, ranker, train_info = trained
    # convrec serves with the split-trained ranker during the run
    scene.ranker = wrap_ranker(ranker, split) if wrap_ranker is not None else ranker
    users = UserBuilder(catalog, genre_facet, year_facet, seed=seed).build(
        split, user_ratings(catalog), n_users, max_turns
    )
    if not users:
        raise ConvrecError("No test user has a liked, describable held-out item.")
    item_ids = split.train.item_ids
    counter = HallucinationCounter(catalog)
    runners: dict[str, System] = {}
    for name in systems:
        if name == "convrec":
            runners[name] = ConvrecSystem(agent, counter)
        elif name == "popularity":
            runners[name] = PopularitySystem(catalog, split.train.item_counts(), item_ids)
        elif name == "semantic_only":
            order = np.array([catalog.position(i) for i in item_ids])
            runners[name] = SemanticSystem(np.asarray(index.embeddings)[order], item_ids, index.embedder.encode)
        elif name == "cf_only":
            if ranker.cf_part is None:
                raise ConvrecError("The trained ranker has no CF part, so there is no CF-only baseline.")
            runners[name] = CFSystem(ranker.cf_part, item_ids)
        elif name == "llm_zero_shot":
            runners[name] = LLMZeroShotSystem(zero_shot_llm, CatalogMatcher(catalog))
    setup_s = time.perf_counter() - t_setup

    episodes: dict[str, list[Episode]] = {name: [] for name in systems}
    seconds = {name: 0.0 for name in systems}
    for name, runner in runners.items():
        if isinstance(runner, SemanticSystem):
            t0 = time.perf_counter()
            runner.prepare(users, max_turns)
            seconds[name] += time.perf_counter() - t0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(users), desc="simulated users", unit="user")
    for user in users:
        played: list[dict[str, Any]] = []
        for name, runner in runners.items():
            if isinstance(runner, PopularitySystem):
                runner.trajectory = FilterTrajectory(scene, user, played)
            t0 = time.perf_counter()
            episodes[name].append(play(runner, user, max_turns, catalog, genre_facet, year_facet))
            seconds[name] += time.perf_counter() - t0
            if isinstance(runner, ConvrecSystem):
                played = list(runner.states)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if tmp is not None:
        tmp.cleanup()

    extra: dict[str, Any] = {"ranker": train_info, "agent_llm": getattr(agent_llm, "name", None) if agent_llm else "none"}
    conv = runners.get("convrec")
    if isinstance(conv, ConvrecSystem):
        ts = np.array(conv.turn_seconds) if conv.turn_seconds else np.zeros(1)
        extra["convrec"] = {
            "hallucinated_titles": len(conv.hallucinated),
            "hallucinated_examples": conv.hallucinated[:10],
            "turns": len(conv.turn_seconds),
            "turn_s_p50": round(float(np.percentile(ts, 50)), 4),
            "turn_s_p95": round(float(np.percentile(ts, 95)), 4),
            "seen_share": round(conv.seen_shown / conv.items_shown, 4) if conv.items_shown else None,
            "items_per_turn": round(conv.items_shown / max(1, len(conv.turn_seconds)), 2),
        }
    zs = runners.get("llm_zero_shot")
    if isinstance(zs, LLMZeroShotSystem):
        extra["llm_zero_shot"] = {
            "model": getattr(zero_shot_llm, "name", str(zero_shot_llm)),
            "titles_named": zs.named,
            "titles_repeated": zs.repeated,
            "not_in_catalog": len(zs.not_in_catalog),
            "not_in_catalog_examples": zs.not_in_catalog[:10],
            "call_s_p50": round(float(np.median(zs.call_seconds)), 3) if zs.call_seconds else None,
        }
    protocol = (
        f"{len(users)} test users of {split.description}; target: one held-out test movie the user rated "
        f">= {LIKED_RATING:g}; the user reveals one attribute per turn (genre, decade, a liked training movie "
        f"sharing most genres, another genre or movie, a 5-year window), never a title word; {PER_TURN} "
        f"items per turn, no repeats; stop at the first top-{PER_TURN} hit; up to {max_turns} turns; seed {seed}"
    )
    result = SimulationResult(users, max_turns, episodes, seconds, setup_s, protocol, extra=extra)
    result.trained = trained
    return result
