"""`HybridRanker`: one ranking over retrieval candidates from several score parts.

    score(user, item) = w_sem · z(semantic) + Σ_p w_p · z_p(user, item) + w_unseen · [item has no interactions]

- semantic: the retrieval score (cosine of the request to the item), standardized over the
  candidates of this request;
- parts (CF factors, popularity, embedding profile, knowledge graph, text-regularized MF, ...):
  each standardized per user over a fixed sample of the catalog (all of it when small), so one set
  of weights combines scores that live on different scales;
- unseen: items with no training interactions. Pure CF cannot score them; with a content part they
  may compete, and the offset says how much (tuned; see `fitting.py`).

Weights come in two sets, for people with a short history (≤ `short_history` liked items: most
chat users, and users the data barely knows) and for the rest, each with its own semantic weight
(the parts' scales differ between the sets); all are fitted on a validation split and saved (see
`convrec.ranking.fitting`). `rank` returns each part's contribution (weight × standardized score,
adding up to the total) and grounded evidence for the reply stage.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from convrec.errors import ConvrecError, UnknownItemError
from convrec.ranking.itemknn import ItemKNNPart
from convrec.ranking.base import RankingData, ScoredItem, ScorePart, UserProfile, UserState, zscore_rows
from convrec.ranking.mf import ALSPart, FactorPart
from convrec.ranking.paradigms.kg import ForeignItems, KnowledgeGraphPart
from convrec.ranking.paradigms.profile import EmbeddingProfilePart
from convrec.ranking.paradigms.regmf import TextRegularizedMFPart
from convrec.ranking.popularity import PopularityPart

SHORT_HISTORY = 5
HIDDEN = -1000.0  # the unseen offset of rankers that cannot score items without interactions
NORM_SAMPLE = 512  # items whose scores standardize each part per user (a fixed random sample)
EVIDENCE_DETAIL = 20  # candidates that get knowledge-graph and co-liked evidence
EVIDENCE_REFERENCES = 64  # liked items reasons may point at
BUCKETS = ("short", "long")

PART_CLASSES: dict[str, type[ScorePart]] = {}


@functools.lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    """Found once: looking up the loaded BLAS libraries costs milliseconds."""
    return ThreadpoolController()


def register_part(cls: type[ScorePart]) -> type[ScorePart]:
    PART_CLASSES[cls.name] = cls
    return cls


for _cls in (PopularityPart, EmbeddingProfilePart, KnowledgeGraphPart, TextRegularizedMFPart, ItemKNNPart, ALSPart):
    register_part(_cls)


#: Parts that can score an item nobody has interacted with yet.
SCORES_COLD_ITEMS = {"profile", "kg", "regmf"}


@dataclass
class Weights:
    """One bucket's weights: per part, plus the offset for items without interactions."""

    parts: dict[str, float]
    unseen: float = HIDDEN


@dataclass
class RankerInfo:
    """What a saved ranker tells about itself (training, validation numbers)."""

    name: str = ""
    catalog: str = ""
    engine: str = "implicit"
    trained_at: str = ""
    train_s: float = 0.0
    validation: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class HybridRanker:
    """Scores candidates for one person from fitted score parts (see the module docstring)."""

    kind = "hybrid"

    def __init__(
        self,
        parts: dict[str, ScorePart],
        data: RankingData,
        weights: dict[str, Weights] | None = None,
        semantic_weight: float | dict[str, float] = 1.0,
        short_history: int = SHORT_HISTORY,
        info: RankerInfo | None = None,
    ) -> None:
        if not parts:
            raise ValueError("a ranker needs at least one score part")
        self.parts = parts
        self.data = data
        default = Weights({name: 1.0 for name in parts}, HIDDEN if not self.scores_cold_items else 0.0)
        self.weights = weights or {b: Weights(dict(default.parts), default.unseen) for b in BUCKETS}
        self.semantic_weights: dict[str, float] = {}
        self.semantic_weight = semantic_weight
        self.short_history = short_history
        self.info = info or RankerInfo()
        self._prepare()

    # --- set-up --------------------------------------------------------------------------------

    def _prepare(self) -> None:
        n = self.data.n_items
        self.counts_ = self.data.train.item_counts()
        self.unseen_ = (self.counts_ == 0).astype(np.float32)
        self.sorted_counts_ = np.sort(self.counts_)
        if n <= NORM_SAMPLE:
            self.norm_sample_ = np.arange(n)
        else:
            rng = np.random.default_rng(self.data.seed)
            self.norm_sample_ = np.sort(rng.choice(n, NORM_SAMPLE, replace=False))
        self.content_ = EmbeddingProfilePart(center=True)
        self.content_.bind(self.data)
        self.item_csc_ = self.data.train.matrix.tocsc()

    @property
    def semantic_weight(self) -> float | dict[str, float]:
        """The request match's weight: one number when both buckets share it, else per bucket."""
        values = set(self.semantic_weights.values())
        return next(iter(values)) if len(values) == 1 else dict(self.semantic_weights)

    @semantic_weight.setter
    def semantic_weight(self, value: float | dict[str, float]) -> None:
        """One number for every bucket, or {bucket: weight} (files saved before the per-bucket
        fit hold one number)."""
        if isinstance(value, dict):
            self.semantic_weights = {b: float(value[b]) for b in BUCKETS}
        else:
            self.semantic_weights = dict.fromkeys(BUCKETS, float(value))

    @property
    def scores_cold_items(self) -> bool:
        return any(name in SCORES_COLD_ITEMS for name in self.parts)

    @property
    def cf_part(self) -> FactorPart | None:
        for part in self.parts.values():
            if isinstance(part, FactorPart):
                return part
        return None

    @property
    def kg_part(self) -> KnowledgeGraphPart | None:
        """The knowledge-graph part, if this ranker has one (reasons, relations, award counts)."""
        kg = self.parts.get("kg")
        return kg if isinstance(kg, KnowledgeGraphPart) else None

    def bucket(self, history_size: int) -> str:
        return "short" if history_size <= self.short_history else "long"

    # --- many known users at once (offline evaluation, fitting) --------------------------------

    def part_matrices(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Each part's standardized scores for training users `rows` over all items."""
        return {name: zscore_rows(part.score_users(rows), self.norm_sample_) for name, part in self.parts.items()}

    def combine_matrix(self, rows: np.ndarray, z: dict[str, np.ndarray], weights: Weights) -> np.ndarray:
        total = np.zeros((len(rows), self.data.n_items), np.float32)
        for name, mat in z.items():
            w = weights.parts.get(name, 0.0)
            if w:
                total += w * mat
        total += weights.unseen * self.unseen_
        return total

    def score_users(self, rows: np.ndarray) -> np.ndarray:
        """Final scores of every item for training users `rows` (no request: semantic absent)."""
        rows = np.asarray(rows)
        z = self.part_matrices(rows)
        out = np.zeros((len(rows), self.data.n_items), np.float32)
        sizes = self.data.train.user_counts()[rows]
        for b in BUCKETS:
            mask = np.array([self.bucket(int(s)) == b for s in sizes], dtype=bool)
            if mask.any():
                out[mask] = self.combine_matrix(rows[mask], {k: v[mask] for k, v in z.items()}, self.weights[b])
        return out

    # --- one person, some candidates (serving) -------------------------------------------------

    def resolve(self, profile: UserProfile) -> tuple[UserState, list[str]]:
        """Turn a profile into catalog positions; returns the state and the ignored unknown ids."""
        train = self.data.train
        index = train.item_index
        ignored: list[str] = []
        row = self._row(profile.user_id)
        strength: dict[int, float] = {}
        if row is not None:
            for j in train.row_items(row):
                strength[int(j)] = 1.0
        changed = False
        for item_id, w in dict(profile.liked or {}).items():
            pos = index.get(str(item_id))
            if pos is None:
                ignored.append(str(item_id))
                continue
            try:
                w = float(w)
            except (TypeError, ValueError):
                raise ConvrecError(f"The strength for liked item {item_id!r} must be a number, got {w!r}.") from None
            if not math.isfinite(w) or w <= 0:
                raise ConvrecError(f"The strength for liked item {item_id!r} must be a positive number, got {w!r}.")
            old = strength.get(pos)
            new = w if old is None else max(w, old)
            changed = changed or new != old
            strength[pos] = new
        disliked: list[int] = []
        for item_id in profile.disliked or ():
            pos = index.get(str(item_id))
            if pos is None:
                ignored.append(str(item_id))
                continue
            disliked.append(pos)
            strength.pop(pos, None)
            changed = True
        items = np.fromiter(strength.keys(), dtype=np.int64, count=len(strength))
        weights = np.fromiter(strength.values(), dtype=np.float32, count=len(strength))
        state = UserState(row, items, weights, np.asarray(sorted(set(disliked)), np.int64), row is None or changed)
        return state, ignored

    def _row(self, user_id: str | None) -> int | None:
        """The training row of a user the data knows, else None."""
        return self.data.train.user_index.get(str(user_id)) if user_id is not None else None

    def history(self, user_id: str | None) -> list[str]:
        """The item ids a known user interacted with in the data this ranker was trained on
        (empty for people it has never seen)."""
        row = self._row(user_id)
        if row is None:
            return []
        train = self.data.train
        return [train.item_ids[int(j)] for j in train.row_items(row)]

    def _part_scores(self, state: UserState, items: np.ndarray, skip: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """Standardized part scores of `items` for one person (stats over the norm sample);
        parts in `skip` (weighted 0 for this person) are zeros, not computed."""
        probe = np.concatenate([items, self.norm_sample_])
        out = {}
        n = len(items)
        for name, part in self.parts.items():
            if name in skip:
                out[name] = np.zeros(n, np.float32)
                continue
            s = part.score_state(state, probe).astype(np.float32)
            ref = s[n:]
            std = float(ref.std())
            out[name] = (s[:n] - float(ref.mean())) / std if std > 1e-9 else np.zeros(n, np.float32)
        return out

    def combine_one(self, state: UserState, items: np.ndarray, z: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per-part contributions for one person (they add up to the score)."""
        weights = self.weights[self.bucket(state.history_size)]
        contrib = {name: weights.parts.get(name, 0.0) * z[name] for name in z}
        contrib["unseen"] = weights.unseen * self.unseen_[items]
        return contrib

    def rank(self, profile: UserProfile, candidates: Sequence[tuple[str, float]] | Sequence[str]) -> list[ScoredItem]:
        """Rank `candidates` — (item_id, semantic score) pairs, or bare ids when there is no
        request — for `profile`, best first. Candidate ids the catalog does not know are left out;
        items the person disliked go last."""
        # The matrices here are small: BLAS threads cost more to wake than they save.
        with _blas_controller().limit(limits=1, user_api="blas"):
            return self._rank(profile, candidates)

    def _rank(self, profile: UserProfile, candidates: Sequence[tuple[str, float]] | Sequence[str]) -> list[ScoredItem]:
        state, _ = self.resolve(profile)
        ids: list[str] = []
        positions: list[int] = []
        semantic: list[float] = []
        has_semantic = False
        for cand in candidates:
            if isinstance(cand, str):
                item_id, sem = cand, 0.0
            else:
                item_id, sem = str(cand[0]), float(cand[1])
                has_semantic = True
            pos = self.data.train.item_index.get(item_id)
            if pos is None:
                continue
            ids.append(item_id)
            positions.append(pos)
            semantic.append(sem if math.isfinite(sem) else 0.0)
        if not ids:
            return []
        items = np.asarray(positions, np.int64)
        bucket = self.bucket(state.history_size)
        weights = self.weights[bucket].parts
        z = self._part_scores(state, items, skip=[name for name in self.parts if weights.get(name, 0.0) == 0.0])
        contrib = self.combine_one(state, items, z)
        sem = np.asarray(semantic, np.float32)
        if has_semantic:
            std = float(sem.std())
            sem_z = (sem - float(sem.mean())) / std if std > 1e-9 else np.zeros(len(sem), np.float32)
            contrib = {"semantic": self.semantic_weights[bucket] * sem_z, **contrib}
        total = np.zeros(len(items), np.float32)
        for values in contrib.values():
            total += values
        disliked = np.isin(items, state.disliked)
        order = np.lexsort((-total, disliked))
        evidence = self.evidence(state, items, sem if has_semantic else None, detail=order[:EVIDENCE_DETAIL])
        names = list(contrib)
        table = np.stack([contrib[n] for n in names], axis=1).astype(float).tolist()
        out = []
        for i in order:
            ev = evidence[i]
            if disliked[i]:
                ev = [{"kind": "disliked"}, *ev]
            out.append(ScoredItem(ids[i], float(total[i]), dict(zip(names, table[i])), ev))
        return out

    # --- evidence ------------------------------------------------------------------------------

    def reference_items(self, state: UserState) -> np.ndarray:
        """The liked items reasons may point at: in-chat likes first (their strength differs from
        plain history or they are not in it), then history by popularity, at most
        `EVIDENCE_REFERENCES` (so people with long histories cost no more)."""
        liked = state.items
        if len(liked) <= EVIDENCE_REFERENCES:
            return liked
        chat = state.weights != 1.0
        order = np.lexsort((-self.counts_[liked], ~chat))
        return liked[order[:EVIDENCE_REFERENCES]]

    def evidence(
        self, state: UserState, items: np.ndarray, semantic: np.ndarray | None, detail: np.ndarray | None = None
    ) -> list[list[dict[str, Any]]]:
        """Grounded reason data for each candidate (see `ScoredItem.evidence`). Knowledge-graph
        and co-liked evidence, which cost more, are computed for the `detail` candidates (the
        best ones; default all)."""
        item_ids = self.data.train.item_ids
        out: list[list[dict[str, Any]]] = [[] for _ in items]
        if semantic is not None:
            for i, s in enumerate(semantic.tolist()):
                out[i].append({"kind": "matches_request", "similarity": round(s, 4)})
        detail = np.arange(len(items)) if detail is None else detail
        liked = self.reference_items(state)
        if len(liked):
            # Similarity to liked items: CF item factors where both sides have interactions,
            # else text embeddings.
            sims = self.content_.item_vectors_[items] @ self.content_.item_vectors_[liked].T
            basis = np.zeros(sims.shape, dtype=bool)
            cf = self.cf_part
            if cf is not None:
                unit = cf.model_.unit_item_factors
                both = cf.item_trained[items][:, None] & cf.item_trained[liked][None, :]
                if both.any():
                    sims = np.where(both, unit[items] @ unit[liked].T, sims)
                    basis = both
            sims = np.where(items[:, None] == liked[None, :], -np.inf, sims)  # never "similar to itself"
            best = np.argmax(sims, axis=1)
            best_sim = sims[np.arange(len(items)), best]
            for i in range(len(items)):
                if np.isfinite(best_sim[i]):
                    out[i].append(
                        {
                            "kind": "similar_to_liked",
                            "liked_item": item_ids[int(liked[best[i]])],
                            "similarity": round(float(best_sim[i]), 4),
                            "basis": "cf" if basis[i, best[i]] else "content",
                        }
                    )
            partners = liked[best]
            for i in detail:
                n_users = self._co_liked(int(items[i]), int(partners[i]))
                if n_users > 0:
                    out[i].append({"kind": "co_liked", "liked_item": item_ids[int(partners[i])], "users": n_users})
            kg = self.kg_part
            if kg is not None:
                for i, ev in zip(detail, kg.evidence_many(items[detail], liked)):
                    if ev is not None:
                        out[i].append(ev)
        counts = self.counts_[items]
        if self.counts_.size and self.counts_.max() > 0:
            pct = np.searchsorted(self.sorted_counts_, counts, side="right") / len(self.counts_)
            for i, c in enumerate(counts.tolist()):
                if c == 0:
                    out[i].append({"kind": "new_item", "interactions": 0})
                elif pct[i] >= 0.9:
                    out[i].append({"kind": "popular", "interactions": int(c), "percentile": round(float(pct[i]) * 100, 1)})
        return out

    def evidence_against(self, item_ids: Sequence[str], anchors: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Reason data linking each of `item_ids` to the `anchors` only (the items a request
        compares with: "more like Dave"), whatever else the person liked; the same kinds as
        `evidence`, without the request match. Unknown ids get no evidence."""
        index = self.data.train.item_index
        known = [(n, index[str(i)]) for n, i in enumerate(item_ids) if str(i) in index]
        refs = np.array(sorted({index[str(a)] for a in anchors if str(a) in index}), dtype=np.int64)
        out: list[list[dict[str, Any]]] = [[] for _ in item_ids]
        if not known or not len(refs):
            return out
        state = UserState(row=None, items=refs, weights=np.full(len(refs), 2.0, np.float32),
                          disliked=np.zeros(0, np.int64), folded=True)
        found = self.evidence(state, np.array([p for _, p in known], dtype=np.int64), None)
        for (n, _), ev in zip(known, found, strict=True):
            out[n] = [e for e in ev if e.get("kind") in ("kg", "co_liked", "similar_to_liked")]
        return out

    def _co_liked(self, a: int, b: int) -> int:
        """How many training users interacted with both items a and b."""
        csc = self.item_csc_
        if a == b or csc.nnz == 0:
            return 0
        ua = csc.indices[csc.indptr[a] : csc.indptr[a + 1]]
        ub = csc.indices[csc.indptr[b] : csc.indptr[b + 1]]
        if len(ua) == 0 or len(ub) == 0:
            return 0
        return int(len(np.intersect1d(ua, ub, assume_unique=True)))

    def co_liked(self, a: str, b: str) -> int | None:
        """How many people in the training data liked both items ("compare #1 and #2"); None for an
        item this ranker never saw."""
        index = self.data.train.item_index
        if str(a) not in index or str(b) not in index:
            return None
        return self._co_liked(index[str(a)], index[str(b)])

    # --- "more like X" -------------------------------------------------------------------------

    @property
    def has_graph(self) -> bool:
        """Whether a trustworthy knowledge graph is one of this ranker's parts (relations, awards)."""
        return self.kg_part is not None

    def related_items(self, item_id: str, relation: str) -> list[str] | None:
        """Items sharing a knowledge-graph `relation` with `item_id` ("directed_by": the same
        director), or None when this ranker has no trustworthy graph to tell."""
        kg = self.kg_part
        pos = self.data.train.item_index.get(str(item_id))
        if kg is None or pos is None:
            return None
        rows = kg.related(pos, relation)
        return None if rows is None else [self.data.train.item_ids[int(r)] for r in rows]

    def awards(self) -> dict[str, tuple[int, int]] | None:
        """Item id -> (awards won, nominations) for every item the knowledge graph gives either,
        or None when this ranker has no trustworthy graph that counts awards."""
        kg = self.kg_part
        counted = kg.awards() if kg is not None else None
        if counted is None:
            return None
        won, nominated = counted
        ids = self.data.train.item_ids
        return {ids[int(j)]: (int(won[j]), int(nominated[j])) for j in np.flatnonzero((won > 0) | (nominated > 0))}

    def outside_main_language(self) -> ForeignItems | None:
        """The items in none of the language most items share ("a foreign film"), by the
        knowledge graph; None without a trustworthy graph of languages."""
        kg = self.kg_part
        found = kg.outside_main_language() if kg is not None else None
        if found is None:
            return None
        foreign, main, known = found
        ids = self.data.train.item_ids
        return ForeignItems(frozenset(ids[int(j)] for j in np.flatnonzero(foreign)), main,
                            frozenset(ids[int(j)] for j in np.flatnonzero(known)))

    def similar_items(self, item_id: str, k: int = 10) -> list[tuple[str, float]]:
        """The k items most like `item_id`: a fixed blend of CF item-factor cosine (0.6, items
        with interactions), text-embedding cosine (0.2) and knowledge-graph cosine (0.2, where a
        graph exists), renormalized over the sources available for the item."""
        pos = self.data.train.item_index.get(str(item_id))
        if pos is None:
            raise UnknownItemError(f"Catalog {self.data.catalog_name!r} has no item with id {item_id!r}.")
        if k <= 0:
            return []
        n = self.data.n_items
        total = np.zeros(n, np.float32)
        weight = np.zeros(n, np.float32)
        content = self.content_.item_vectors_ @ self.content_.item_vectors_[pos]
        total += 0.2 * content
        weight += 0.2
        cf = self.cf_part
        if cf is not None and cf.item_trained[pos]:
            unit = cf.model_.unit_item_factors
            trained = cf.item_trained
            total += np.where(trained, 0.6 * (unit @ unit[pos]), 0.0)
            weight += np.where(trained, 0.6, 0.0).astype(np.float32)
        kg = self.kg_part
        if kg is not None and kg.graph_.linked[pos]:
            linked = kg.graph_.linked
            total += np.where(linked, 0.2 * kg.similarity_[pos], 0.0)
            weight += np.where(linked, 0.2, 0.0).astype(np.float32)
        sims = total / np.maximum(weight, 1e-9)
        sims[pos] = -np.inf
        k = min(k, n - 1)
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.lexsort((top, -sims[top]))]
        return [(self.data.train.item_ids[int(j)], round(float(sims[j]), 6)) for j in top]

    # --- persistence ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "parts": {name: type(part).name for name, part in self.parts.items()},
            "weights": {b: asdict(w) for b, w in self.weights.items()},
            "semantic_weight": self.semantic_weight,
            "short_history": self.short_history,
            "info": asdict(self.info),
        }

    def save(self, folder: Path) -> None:
        """Write the ranker into `folder` (which must not exist yet; see `store.save_atomic`)."""
        folder.mkdir(parents=True)
        for name, part in self.parts.items():
            part.save(folder / "parts" / name)
        self._save_extra(folder)
        (folder / "ranker.json").write_text(json.dumps(self.to_json(), indent=2), encoding="utf-8")

    def _save_extra(self, folder: Path) -> None:
        pass

    @classmethod
    def load(cls, folder: Path, data: RankingData) -> HybridRanker:
        spec = json.loads((folder / "ranker.json").read_text(encoding="utf-8"))
        parts: dict[str, ScorePart] = {}
        for name, class_name in spec["parts"].items():
            part_cls = PART_CLASSES.get(class_name)
            if part_cls is None:
                raise ConvrecError(f"{folder} uses an unknown score part {class_name!r}; train it again.")
            parts[name] = part_cls.load(folder / "parts" / name, data)
        if spec.get("kind") == "fusion":
            import convrec.ranking.paradigms.fusion  # noqa: F401  (registers the kind)
        ranker_cls = RANKER_KINDS.get(spec.get("kind", "hybrid"))
        if ranker_cls is None:
            raise ConvrecError(f"{folder} holds an unknown ranker kind {spec.get('kind')!r}; train it again.")
        ranker = ranker_cls(
            parts,
            data,
            weights={b: Weights(**w) for b, w in spec["weights"].items()},
            semantic_weight=spec["semantic_weight"],
            short_history=int(spec.get("short_history", SHORT_HISTORY)),
            info=RankerInfo(**spec.get("info", {})),
        )
        ranker._load_extra(folder)
        return ranker

    def _load_extra(self, folder: Path) -> None:
        pass

    def adopt_combiner(self, other: HybridRanker) -> None:
        """Take over what `other` learned beyond weights (the fusion network); linear: nothing."""


RANKER_KINDS: dict[str, type[HybridRanker]] = {"hybrid": HybridRanker}

