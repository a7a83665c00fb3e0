"""Paradigm 4 — knowledge-enhanced scoring and grounded reasons.

MovieLens 100K ships knowledge-graph triples with `recbole` (`ml-100k.kg`: Freebase head,
relation, tail; `ml-100k.link`: item id → entity). Each item becomes a bag of (relation, entity)
features — its actors, director, writers, genres, awards, language, … — weighted by how rare the
entity is (TF-IDF). Two items are similar when they share rare entities (cosine of the weighted
bags); a user's score for an item is its mean similarity to what they liked. Sequel/prequel links
join films into a series, which becomes one shared feature.

Entity names are opaque Freebase ids, but relation names are readable, so the evidence says
"shares `directed_by` with <a film you liked>" — a reason grounded in data.

A reason is only as good as the item → entity links. `link_check` tests them against the items'
own text: an item's nearest knowledge-graph neighbour should be more alike in text than a random
item. recbole's `ml-100k.link` as shipped fails it (z ≈ 0.5, against ≈ 44 for genre overlap): its
item ids follow MovieLens-1M numbering (item 2 → Jumanji's entity, while ML-100K item 2 is
GoldenEye). `link_by_title` repairs that through MovieLens-1M's movie list (`assets.
movielens_1m_movies`, fetched by `convrec build`): a MovieLens-1M id → its title and year → the
MovieLens 100K film of that title and year. Without that list the shipped links are used, the
check fails, and the part scores (for the paradigm comparison) but gives no reasons.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from convrec import assets
from convrec.errors import ConvrecError
from convrec.ranking.base import Log, RankingData, ScorePart, UserState, _quiet
from convrec.retrieval.loaders import fix_trailing_article

FILM_PREFIX = "film.film."
SERIES = "same_series"
# Relations in the order a reason is worth telling, most specific first (ties in weight break so).
REASON_ORDER = (
    SERIES,
    "directed_by",
    "written_by",
    "actor",
    "produced_by",
    "cinematography",
    "subjects",
    "production_companies",
    "award_won",
    "award_nomination",
    "genre",
    "country",
    "language",
    "rating",
)


class ForeignItems(NamedTuple):
    """Items in none of the language most items share, by a knowledge graph that names none."""

    ids: frozenset[str]
    main: int  # how many items have the main language
    known: frozenset[str]  # the items with any language


# Relations counted per item, whether or not another item shares the entity: "award-winning"
# asks for films with at least one award won, and a reason says how many ("won 23 awards").
COUNTED_RELATIONS = ("award_won", "award_nomination")

# Shared by too many films to be a reason on their own ("shares a language with Fargo").
WEAK_RELATIONS = frozenset({"genre", "country", "language", "rating"})
# How a reason names each telling relation: "<phrase> <liked film>".
RELATION_PHRASES = {
    SERIES: "in the same series as",
    "directed_by": "shares a director with",
    "written_by": "shares a writer with",
    "actor": "shares an actor with",
    "produced_by": "shares a producer with",
    "cinematography": "shares a cinematographer with",
    "subjects": "shares a subject with",
    "production_companies": "from the same studio as",
    "award_won": "won the same award as",
    "award_nomination": "nominated for the same award as",
}
# How a request's chip joins a relation to its film: "by the director of Fargo", "with the actors
# of Heat" (relations not listed take "by").
RELATION_PREPOSITIONS = {"actor": "with"}
# Relations that make a reason stronger than "N people who liked X also liked it"; the others
# (a producer, a studio, an award) come after that in a reply.
PERSONAL_RELATIONS = frozenset({SERIES, "directed_by", "written_by", "actor"})


def relation_label(relation: str, noun: str, title: str) -> str:
    """How a request by relation reads: 'by the director of Fargo', 'with the actors of Heat',
    'in the Star Wars series' (`noun` is the word the person used)."""
    if relation == SERIES:  # "Star Trek: First Contact" → "the Star Trek series"; "The Godfather" → "the Godfather series"
        name = title.split(": ", 1)[0]
        return f"in the {name[4:] if name.startswith('The ') else name} series"
    return f"{RELATION_PREPOSITIONS.get(relation, 'by')} the {noun or relation.replace('_', ' ')} of {title}"


NO_LINK = 255  # `KnowledgeGraphPart.link_level_` of two items that share nothing telling


def has_knowledge_graph(catalog_name: str) -> bool:
    """Whether convrec knows a knowledge graph for this catalog (MovieLens 100K: recbole's)."""
    return catalog_name == "movielens"


@dataclass
class KnowledgeGraph:
    """Item features from knowledge-graph triples: a sparse items × features matrix."""

    features: sp.csr_matrix  # (n_items, n_features) TF-IDF weights, rows L2-normalized
    feature_relation: list[str]  # readable relation name per feature
    feature_entity: list[str]  # entity id per feature
    linked: np.ndarray  # (n_items,) bool: item has at least one feature
    # COUNTED_RELATIONS -> (n_items,) int32: the item's triples of that relation (every one, shared or
    # not); empty for a graph saved before the counts were kept
    counts: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_triples(
        cls, triples: pd.DataFrame, links: pd.DataFrame, item_ids: list[str]
    ) -> KnowledgeGraph:
        """`triples` has columns head, relation, tail; `links` has item, entity."""
        pos = {it: j for j, it in enumerate(item_ids)}
        ent_item: dict[str, int] = {}
        for item, entity in zip(links["item"], links["entity"]):
            if item in pos:
                ent_item[entity] = pos[item]
        bags: dict[int, set[tuple[str, str]]] = defaultdict(set)
        counts = {rel: np.zeros(len(item_ids), np.int32) for rel in COUNTED_RELATIONS}
        films = triples[triples["relation"].str.startswith(FILM_PREFIX) & triples["head"].isin(ent_item)]
        # Series: union sequel/prequel-linked films into components.
        parent = list(range(len(item_ids)))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for head, relation, tail in zip(films["head"], films["relation"], films["tail"]):
            rel = relation[len(FILM_PREFIX) :]
            item = ent_item[head]
            if rel in ("sequel", "prequel"):
                other = ent_item.get(tail)
                if other is not None:
                    parent[find(item)] = find(other)
                continue
            if rel in counts and (rel, tail) not in bags[item]:
                counts[rel][item] += 1
            bags[item].add((rel, tail))
        groups: dict[int, list[int]] = defaultdict(list)
        for item in range(len(item_ids)):
            groups[find(item)].append(item)
        for root, members in groups.items():
            if len(members) > 1:
                for item in members:
                    bags[item].add((SERIES, item_ids[root]))
        # Features shared by at least two items (a feature of one item links nothing).
        df: dict[tuple[str, str], int] = defaultdict(int)
        for bag in bags.values():
            for feat in bag:
                df[feat] += 1
        vocab = sorted(f for f, n in df.items() if n >= 2)
        index = {f: k for k, f in enumerate(vocab)}
        n_items = len(item_ids)
        rows, cols, vals = [], [], []
        for item, bag in bags.items():
            for feat in bag:
                k = index.get(feat)
                if k is not None:
                    rows.append(item)
                    cols.append(k)
                    vals.append(np.log(n_items / df[feat]))
        matrix = sp.csr_matrix((np.asarray(vals, np.float32), (rows, cols)), shape=(n_items, len(vocab)))
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        matrix = sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ matrix
        matrix = matrix.tocsr()
        matrix.sort_indices()
        return cls(matrix, [f[0] for f in vocab], [f[1] for f in vocab], norms > 0, counts)

    @classmethod
    def for_catalog(
        cls, catalog_name: str, item_ids: list[str], data_dir: Path | None = None
    ) -> KnowledgeGraph | None:
        """The knowledge graph that ships for a catalog, or None when there is none. `data_dir`
        is convrec's data cache, where `convrec build` puts what repairs the graph's links."""
        if not has_knowledge_graph(catalog_name):
            return None
        movies = assets.movielens_1m_movies(data_dir, fetch=False) if data_dir is not None else None
        return _movielens_graph(tuple(item_ids), str(movies) if movies else None)

    @classmethod
    def _read_movielens(cls, item_ids: list[str], ml1m_movies: str | None) -> KnowledgeGraph:
        triples = pd.read_csv(assets.movielens_file("ml-100k.kg"), sep="\t", dtype=str, quoting=3)
        triples.columns = ["head", "relation", "tail"]
        links = pd.read_csv(assets.movielens_file("ml-100k.link"), sep="\t", dtype=str, quoting=3)
        links.columns = ["item", "entity"]
        if ml1m_movies is not None:
            items = pd.read_csv(assets.movielens_file("ml-100k.item"), sep="\t", dtype=str, quoting=3)
            titles = {i: f"{t} ({y})" for i, t, y in zip(items.iloc[:, 0], items.iloc[:, 1], items.iloc[:, 2])}
            links = link_by_title(links, read_movielens_1m(Path(ml1m_movies)), titles)
        return cls.from_triples(triples, links, item_ids)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        sp.save_npz(folder / "kg_features.npz", self.features)
        np.savez(folder / "kg_counts.npz", **self.counts)
        (folder / "kg_vocab.json").write_text(
            json.dumps({"relation": self.feature_relation, "entity": self.feature_entity}), encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path) -> KnowledgeGraph:
        features = sp.load_npz(folder / "kg_features.npz").tocsr()
        vocab = json.loads((folder / "kg_vocab.json").read_text(encoding="utf-8"))
        linked = np.diff(features.indptr) > 0
        counts: dict[str, np.ndarray] = {}
        if (folder / "kg_counts.npz").exists():
            with np.load(folder / "kg_counts.npz") as saved:
                counts = {rel: saved[rel] for rel in saved.files}
        return cls(features, vocab["relation"], vocab["entity"], linked, counts)

    def shared(self, a: int, b: int) -> list[tuple[str, str, float]]:
        """(relation, entity, weight) features items a and b share, most telling first."""
        fa = self.features
        ia = fa.indices[fa.indptr[a] : fa.indptr[a + 1]]
        ib = fa.indices[fa.indptr[b] : fa.indptr[b + 1]]
        common, pa, _ = np.intersect1d(ia, ib, assume_unique=True, return_indices=True)
        weights = fa.data[fa.indptr[a] : fa.indptr[a + 1]][pa]
        order = {r: n for n, r in enumerate(REASON_ORDER)}
        out = [(self.feature_relation[k], self.feature_entity[k], float(w)) for k, w in zip(common, weights)]
        out.sort(key=lambda t: (order.get(t[0], len(order)), -t[2]))
        return out


def read_movielens_1m(path: Path) -> dict[str, str]:
    """MovieLens-1M's `movies.dat` (latin-1, 'id::Title (Year)::Genres') as id → 'Title (Year)'."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        parts = line.split("::")
        if len(parts) == 3:
            out[parts[0]] = parts[1]
    return out


def title_key(title: str) -> tuple[str, str]:
    """('toy story', '1995') from 'Toy Story (1995)': a trailing article moved to the front (as
    the catalog loader does), lower case, no accents, no alternative titles in parentheses,
    punctuation as spaces."""
    text = unicodedata.normalize("NFKD", fix_trailing_article(title.strip())).encode("ascii", "ignore").decode()
    match = re.match(r"^(.*?)\s*\((\d{4})\)$", text.lower())
    name, year = (match.group(1), match.group(2)) if match else (text.lower(), "")
    name = re.sub(r"\s*\([^)]*\)", "", name).strip()
    return re.sub(r"[^a-z0-9]+", " ", name).strip(), year


def link_by_title(links: pd.DataFrame, source_titles: dict[str, str], titles: dict[str, str],
                  fuzzy_cutoff: float = 90.0) -> pd.DataFrame:
    """Re-key item → entity links made for another numbering of the same films.

    `links` has columns item, entity in the source numbering; `source_titles` names those ids
    ('Toy Story (1995)'); `titles` names the catalog's items. A catalog film takes the entity of
    the source film with the same title and year; films left over are matched within their year
    by rapidfuzz's token-set ratio ('Star Wars' = 'Star Wars: Episode IV - A New Hope'), only when
    the best candidate is unique and not taken. Returns item, entity in the catalog's numbering."""
    from rapidfuzz import fuzz, process

    entity = dict(zip(links["item"], links["entity"]))
    by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
    for sid, title in source_titles.items():
        if sid in entity:
            by_key[title_key(title)].append(sid)
    out: dict[str, str] = {}
    taken: set[str] = set()
    left: list[tuple[str, tuple[str, str]]] = []
    for item, title in titles.items():
        key = title_key(title)
        found = by_key.get(key, [])
        if len(found) == 1 and found[0] not in taken:
            out[item] = entity[found[0]]
            taken.add(found[0])
        elif not found:
            left.append((item, key))
    by_year: dict[str, dict[str, str]] = defaultdict(dict)
    for (name, year), sids in by_key.items():
        if len(sids) == 1 and sids[0] not in taken:
            by_year[year][sids[0]] = name
    for item, (name, year) in left:
        pool = {sid: n for sid, n in by_year.get(year, {}).items() if sid not in taken}
        best = process.extract(name, pool, scorer=fuzz.token_set_ratio, limit=2) if name and year else []
        if best and best[0][1] >= fuzzy_cutoff and (len(best) == 1 or best[1][1] < best[0][1]):
            sid = best[0][2]
            out[item] = entity[sid]
            taken.add(sid)
    return pd.DataFrame({"item": list(out), "entity": list(out.values())})


LINK_CHECK_MIN_Z = 5.0


def link_check(similarity: np.ndarray, embeddings: np.ndarray, linked: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Do the item → entity links describe these items? Compare the text similarity of each linked
    item to its nearest knowledge-graph neighbour with that to a random item; returns the mean
    difference as a z-score (large when the graph agrees with the items' own descriptions)."""
    emb = np.asarray(embeddings, np.float32)
    emb = emb - emb.mean(axis=0)
    emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    rows = np.flatnonzero(linked & (similarity.max(axis=1) > 0))
    if len(rows) < 10:
        return {"z": 0.0, "items": int(len(rows)), "neighbour_cos": 0.0, "random_cos": 0.0}
    best = similarity[rows].argmax(axis=1)
    rng = np.random.default_rng(seed)
    near = np.einsum("ij,ij->i", emb[rows], emb[best])
    rand = np.einsum("ij,ij->i", emb[rows], emb[rng.choice(len(emb), len(rows))])
    z = (near.mean() - rand.mean()) / max(float(rand.std()) / np.sqrt(len(rows)), 1e-12)
    return {"z": round(float(z), 2), "items": int(len(rows)), "neighbour_cos": round(float(near.mean()), 4),
            "random_cos": round(float(rand.mean()), 4)}


@functools.lru_cache(maxsize=2)
def _movielens_graph(item_ids: tuple[str, ...], ml1m_movies: str | None) -> KnowledgeGraph:
    """Read once per process and catalog (training refits, tests and benchmarks reuse it)."""
    return KnowledgeGraph._read_movielens(list(item_ids), ml1m_movies)


class KnowledgeGraphPart(ScorePart):
    """score(user, item) = mean over liked items j of cos(kg(item), kg(j)), minus
    `dislike_weight` × the same over disliked items."""

    name = "kg"

    def __init__(self, dislike_weight: float = 0.5) -> None:
        self.dislike_weight = dislike_weight

    def params(self) -> dict[str, Any]:
        return {"dislike_weight": self.dislike_weight}

    def fit(self, data: RankingData, log: Log = _quiet) -> KnowledgeGraphPart:
        kg = KnowledgeGraph.for_catalog(data.catalog_name, data.train.item_ids, data.data_dir)
        if kg is None:
            raise ConvrecError(f"Catalog {data.catalog_name!r} has no knowledge graph; the kg model needs one.")
        self.graph_ = kg
        self.bind(data)
        self.link_check_ = link_check(self.similarity_, data.embeddings, self.graph_.linked)
        log(
            f"Knowledge graph: {int(kg.linked.sum()):,} linked items, {kg.features.shape[1]:,} shared entities; "
            f"link check z = {self.link_check_['z']:.1f} ({'trusted' if self.trusted else 'NOT trusted: no reasons from it'})."
        )
        return self

    @property
    def trusted(self) -> bool:
        """Whether the item links passed `link_check` (only then does the part give reasons)."""
        return bool(getattr(self, "link_check_", {}).get("z", 0.0) >= LINK_CHECK_MIN_Z)

    def bind(self, data: RankingData) -> None:
        self.data_ = data
        f = self.graph_.features
        self.similarity_ = (f @ f.T).toarray().astype(np.float32)
        np.fill_diagonal(self.similarity_, 0.0)
        # For reasons: for every pair of items, the most telling relation they share (its place
        # in REASON_ORDER; NO_LINK when only WEAK_RELATIONS or nothing), items × items uint8.
        relation = np.asarray(self.graph_.feature_relation, dtype=object)
        binary = (f > 0).astype(np.float32).tocsc()
        level = np.full(self.similarity_.shape, NO_LINK, dtype=np.uint8)
        for rank, name in enumerate(REASON_ORDER):
            cols = np.flatnonzero(relation == name)
            if name in WEAK_RELATIONS or not len(cols):
                continue
            sub = binary[:, cols].tocsr()
            both = (sub @ sub.T).tocoo()
            pairs = level[both.row, both.col]
            level[both.row, both.col] = np.minimum(pairs, rank)
        np.fill_diagonal(level, NO_LINK)
        self.link_level_ = level

    def score_users(self, rows: np.ndarray) -> np.ndarray:
        hist = self.data_.train.matrix[rows]
        counts = np.maximum(np.asarray(hist.sum(axis=1)), 1.0)
        return np.asarray(hist @ self.similarity_, dtype=np.float32) / counts

    def score_state(self, state: UserState, items: np.ndarray) -> np.ndarray:
        # Through the features, not the item × item matrix: cost grows with the candidates, not
        # with the length of the history. Σ_j w_j cos(i, j) = f_i · Σ_j w_j f_j (self-term removed).
        f = self.graph_.features
        out = np.zeros(len(items), np.float32)
        if len(state.items):
            profile = np.asarray(f[state.items].T @ state.weights).ravel()
            out += np.asarray(f[items] @ profile).ravel()
            own = np.zeros(self.data_.n_items, np.float32)
            own[state.items] = state.weights * self.graph_.linked[state.items]
            out -= own[items]
            out /= max(float(state.weights.sum()), 1e-9)
        if len(state.disliked):
            profile = np.asarray(f[state.disliked].sum(axis=0)).ravel()
            neg = np.asarray(f[items] @ profile).ravel()
            own = np.zeros(self.data_.n_items, np.float32)
            own[state.disliked] = self.graph_.linked[state.disliked]
            out -= self.dislike_weight * (neg - own[items]) / len(state.disliked)
        return out

    def evidence(self, item: int, liked: np.ndarray) -> dict[str, Any] | None:
        """The most telling link from `item` to a liked item (see `evidence_many`)."""
        return self.evidence_many(np.array([item]), liked)[0]

    def evidence_many(self, items: np.ndarray, liked: np.ndarray) -> list[dict[str, Any] | None]:
        """For each of `items`, the most telling link to a liked item other than itself: the same
        series, then a shared director, writer, actor, … (`REASON_ORDER`); among equals, the liked
        item most alike overall. Links that say little about a film (`WEAK_RELATIONS`: genre,
        country, language, rating) are no reason. None where nothing telling is shared, and for
        every item when the links failed the link check."""
        out: list[dict[str, Any] | None] = [None] * len(items)
        if len(liked) == 0 or len(items) == 0 or not self.trusted:
            return out
        level = self.link_level_[np.ix_(items, liked)]  # the diagonal is NO_LINK: never itself
        sims = self.similarity_[np.ix_(items, liked)]
        best = level.min(axis=1)
        for i in np.flatnonzero(best < NO_LINK).tolist():
            j = int(np.argmax(np.where(level[i] == best[i], sims[i], -np.inf)))
            out[i] = self._evidence(int(items[i]), int(liked[j]), float(sims[i, j]))
        return out

    def related(self, item: int, relation: str) -> np.ndarray | None:
        """Items sharing an entity of `relation` with `item` ("films by Fargo's director"),
        itself left out; None when the links failed the link check (they would name wrong films)."""
        if not self.trusted:
            return None
        f = self.graph_.features
        cols = [k for k in f.indices[f.indptr[item] : f.indptr[item + 1]].tolist()
                if self.graph_.feature_relation[k] == relation]
        if not cols:
            return np.zeros(0, np.int64)
        rows = np.flatnonzero(np.asarray(f[:, cols].getnnz(axis=1)) > 0)
        return rows[rows != item]

    def awards(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Per item: the awards it won and the nominations it had, by the graph's triples (0 for
        an unlinked item); None when the links failed the link check or the graph was saved
        without counts."""
        won, nominated = (self.graph_.counts.get(rel) for rel in COUNTED_RELATIONS)
        if not self.trusted or won is None or nominated is None:
            return None
        return won, nominated

    def outside_main_language(self) -> tuple[np.ndarray, int, np.ndarray] | None:
        """("a foreign film") The items whose languages, by the graph, leave out the language most
        items share, as a bool mask; with how many items have that language, and the mask of those
        with any.
        The graph names no language, so which one is the main one is only what most items share.
        None when the links failed the link check or the graph has no languages."""
        if not self.trusted:
            return None
        f = self.graph_.features
        cols = [k for k, rel in enumerate(self.graph_.feature_relation) if rel == "language"]
        if not cols:
            return None
        spoken = f[:, cols].tocsc() != 0
        per_language = np.diff(spoken.indptr)
        main = int(np.argmax(per_language))
        known = np.asarray(spoken.sum(axis=1)).ravel() > 0
        in_main = spoken[:, [main]].toarray().ravel()
        return known & ~in_main, int(per_language[main]), known

    def _evidence(self, item: int, other: int, similarity: float) -> dict[str, Any]:
        shared = [f for f in self.graph_.shared(item, other) if f[0] not in WEAK_RELATIONS]
        relation, entity, _ = shared[0]
        return {
            "kind": "kg",
            "relation": relation,
            "entity": entity,
            "liked_item": self.data_.train.item_ids[other],
            "shared": sorted({r for r, _, _ in shared}),
            "similarity": round(similarity, 4),
        }

    def _save_state(self, folder: Path) -> None:
        self.graph_.save(folder)
        (folder / "link_check.json").write_text(json.dumps(self.link_check_), encoding="utf-8")

    def _load_state(self, folder: Path, data: RankingData) -> None:
        self.graph_ = KnowledgeGraph.load(folder)
        self.link_check_ = json.loads((folder / "link_check.json").read_text(encoding="utf-8"))
        self.bind(data)
