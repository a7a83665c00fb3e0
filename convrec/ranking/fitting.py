"""Choosing hyperparameters and hybrid weights on a validation split.

Everything here maximizes NDCG@10 on held-out validation interactions, ranking all items with the
user's training items removed (the offline protocol, on the validation part):

- `tune_als`: coordinate search over ALS's alpha, regularization and factors.
- `tune_regmf`: the text weight β of the regularized MF, then its cold-item scale.
- `fit_weights`: coordinate ascent over the hybrid's part weights, separately for short-history
  and long-history users; then the offset for items without interactions.
- `fit_semantic_weight`: the weight of the request match, per bucket, on simulated requests (the
  text of a held-out item with its title removed, candidates retrieved by embedding similarity).

Cold items trade against warm ones: showing an item nobody has interacted with takes a slot from
one the CF model is sure about. The rule is explicit: pick the most cold-friendly setting whose
warm-item NDCG@10 stays within `cold_tolerance` (default 3%) of the best.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.eval.metrics import batch_metrics, top_k
from convrec.eval.split import Split
from convrec.ranking.base import Log, RankingData, UserState, _quiet
from convrec.ranking.hybrid import BUCKETS, HIDDEN, HybridRanker, Weights
from convrec.ranking.mf import ALSPart
from convrec.ranking.paradigms.regmf import TextRegularizedMFPart

WEIGHT_GRID = (-0.5, -0.1, 0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
UNSEEN_GRID = (-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0)
# Up to 32: the short-history parts weigh up to ~10 together (popularity alone 8).
SEMANTIC_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 12.0, 16.0, 24.0, 32.0)
COLD_SCALE_GRID = (0.75, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.75, 2.0)


@dataclass
class Validation:
    """Held-out positives, split into items with and without training interactions."""

    seen: sp.csr_matrix  # training positives (removed from every ranking)
    warm: sp.csr_matrix  # validation positives on items that have training interactions
    cold: sp.csr_matrix  # validation positives on items without any
    history: np.ndarray  # training history size per user

    @classmethod
    def from_split(cls, split: Split) -> Validation:
        trained = split.train.item_counts() > 0
        keep_warm = sp.diags(trained.astype(np.float32))
        keep_cold = sp.diags((~trained).astype(np.float32))
        warm = (split.valid @ keep_warm).tocsr()
        cold = (split.valid @ keep_cold).tocsr()
        warm.eliminate_zeros()
        cold.eliminate_zeros()
        return cls(split.train.matrix, warm, cold, split.train.user_counts())

    def users(self, which: str = "warm", bucket: str | None = None, short_history: int = 5) -> np.ndarray:
        truth = self.warm if which == "warm" else self.cold
        rows = np.flatnonzero(np.diff(truth.indptr) > 0)
        if bucket == "short":
            rows = rows[self.history[rows] <= short_history]
        elif bucket == "long":
            rows = rows[self.history[rows] > short_history]
        return rows


def evaluate(scores: np.ndarray, rows: np.ndarray, seen: sp.csr_matrix, truth: sp.csr_matrix) -> dict[str, float]:
    """Offline metrics of full score rows for users `rows` (seen items removed)."""
    return batch_metrics(top_k(scores, 10, seen[rows]), truth[rows])


class _FastMetrics:
    """NDCG@10 and Recall@10 for a fixed set of users, with the seen-item mask and the relevant
    items precomputed: the weight search evaluates hundreds of score matrices."""

    def __init__(self, rows: np.ndarray, seen: sp.csr_matrix, truth: sp.csr_matrix, k: int = 10) -> None:
        n_items = seen.shape[1]
        self.k = k
        self.penalty = np.zeros((len(rows), n_items), np.float32)
        coo = seen[rows].tocoo()
        self.penalty[coo.row, coo.col] = -np.inf
        sub = truth[rows].tocoo()
        self.relevant = np.zeros((len(rows), n_items), bool)
        self.relevant[sub.row, sub.col] = True
        self.n_rel = self.relevant.sum(axis=1)
        self.has = self.n_rel > 0
        disc = 1.0 / np.log2(np.arange(2, k + 2))
        self.disc = disc
        self.ideal = np.cumsum(disc)[np.clip(self.n_rel, 1, k) - 1]

    def _hits(self, scores: np.ndarray) -> np.ndarray:
        s = scores + self.penalty
        top = np.argpartition(-s, self.k - 1, axis=1)[:, : self.k]
        order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        return np.take_along_axis(self.relevant, top, axis=1)

    def ndcg(self, scores: np.ndarray) -> float:
        if not self.has.any():
            return 0.0
        hits = self._hits(scores)
        return float(np.mean(((hits * self.disc).sum(axis=1) / self.ideal)[self.has]))

    def recall(self, scores: np.ndarray) -> float:
        if not self.has.any():
            return 0.0
        hits = self._hits(scores)
        return float(np.mean((hits.sum(axis=1) / np.maximum(self.n_rel, 1))[self.has]))


def _metrics_for(val: Validation, rows: np.ndarray, which: str) -> _FastMetrics:
    key = (which, len(rows), hash(rows.tobytes()))
    cache = val.__dict__.setdefault("_fast", {})
    if key not in cache:
        if len(cache) > 16:
            cache.clear()
        cache[key] = _FastMetrics(rows, val.seen, val.warm if which == "warm" else val.cold)
    return cache[key]


def _ndcg(scores: np.ndarray, rows: np.ndarray, val: Validation, which: str = "warm") -> float:
    return _metrics_for(val, rows, which).ndcg(scores)


def _recall(scores: np.ndarray, rows: np.ndarray, val: Validation, which: str = "cold") -> float:
    return _metrics_for(val, rows, which).recall(scores)


# --- factor models -------------------------------------------------------------------------------


def _pure_cf_scores(part: Any, rows: np.ndarray, mask_cold: bool) -> np.ndarray:
    scores = part.score_users(rows)
    if mask_cold:
        trained = part.data_.train.item_counts() > 0
        scores[:, ~trained] = -np.inf
    return scores


def tune_als(
    data: RankingData,
    val: Validation,
    start: dict[str, Any] | None = None,
    log: Log = _quiet,
    quick: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Coordinate search for ALS (implicit engine) on warm validation NDCG@10.
    Returns the best parameters and every trial."""
    params: dict[str, Any] = {"factors": 32, "regularization": 5.0, "alpha": 2.0, "iterations": 20, **(start or {})}
    rows = val.users("warm")
    trials: list[dict[str, Any]] = []
    cache: dict[tuple, float] = {}

    def trial(p: dict[str, Any]) -> float:
        key = tuple(sorted(p.items()))
        if key not in cache:
            t0 = time.perf_counter()
            part = ALSPart(**p).fit(data)
            cache[key] = _ndcg(_pure_cf_scores(part, rows, True), rows, val)
            trials.append({**p, "ndcg_at_10": round(cache[key], 5), "fit_s": round(time.perf_counter() - t0, 2)})
            log(f"  als {p['factors']}f reg {p['regularization']:g} alpha {p['alpha']:g}: NDCG@10 {cache[key]:.4f}")
        return cache[key]

    grids = {
        "factors": (8, 16, 32, 64),
        "alpha": (1.0, 2.0, 4.0),
        "regularization": (1.0, 5.0, 20.0),
    }
    if quick:
        grids = {"factors": (16, 32), "alpha": (1.0, 2.0)}
    best = trial(params)
    for _ in range(1):
        improved = False
        for key, grid in grids.items():
            for value in grid:
                cand = {**params, key: value}
                score = trial(cand)
                if score > best + 1e-6:
                    best, params, improved = score, cand, True
        if not improved:
            break
    return params, trials


def tune_itemknn(
    data: RankingData, val: Validation, log: Log = _quiet, quick: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Neighbourhood size and BM25 saturation of the item-kNN part, on warm validation NDCG@10."""
    from convrec.ranking.itemknn import ItemKNNPart

    rows = val.users("warm")
    trials: list[dict[str, Any]] = []
    best, best_params = -1.0, ItemKNNPart().params()
    grid = [{"neighbours": k} for k in ((100, 300) if quick else (50, 100, 200, 400))]
    for params in grid:
        part = ItemKNNPart(**params).fit(data)
        score = _ndcg(_pure_cf_scores(part, rows, True), rows, val)  # type: ignore[arg-type]
        trials.append({**params, "ndcg_at_10": round(score, 5)})
        log(f"  item-kNN {params['neighbours']} neighbours: NDCG@10 {score:.4f}")
        if score > best:
            best, best_params = score, part.params()
    return best_params, trials


def tune_regmf(
    data: RankingData,
    val: Validation,
    base: dict[str, Any],
    cold_tolerance: float,
    log: Log = _quiet,
    quick: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Choose β (text weight) on warm NDCG@10, then the largest cold-item scale within tolerance."""
    rows = val.users("warm")
    cold_rows = val.users("cold")
    trials: list[dict[str, Any]] = []
    best_score, best_part = -1.0, None
    weights = (5.0, 20.0) if quick else (2.0, 5.0, 20.0, 50.0)
    core = {k: base[k] for k in ("factors", "regularization", "alpha") if k in base}
    for tw in weights:
        part = TextRegularizedMFPart(**core, text_weight=tw, cold_scale=0.0).fit(data)
        score = _ndcg(_pure_cf_scores(part, rows, True), rows, val)
        trials.append({**core, "text_weight": tw, "ndcg_at_10": round(score, 5)})
        log(f"  regmf text weight {tw:g}: warm NDCG@10 {score:.4f}")
        if score > best_score:
            best_score, best_part = score, part
    assert best_part is not None
    chosen = 0.0
    if len(cold_rows):
        for scale in COLD_SCALE_GRID:
            best_part.set_cold_scale(scale)
            scores = best_part.score_users(rows)
            warm = _ndcg(scores, rows, val)
            cold = _recall(best_part.score_users(cold_rows), cold_rows, val, "cold")
            ok = warm >= (1 - cold_tolerance) * best_score
            trials.append({"cold_scale": scale, "warm_ndcg_at_10": round(warm, 5), "cold_recall_at_10": round(cold, 5)})
            log(f"  regmf cold scale {scale:g}: warm NDCG@10 {warm:.4f}, cold Recall@10 {cold:.4f}{'' if ok else ' (too costly)'}")
            if ok:
                chosen = scale
    best_part.set_cold_scale(chosen)
    return {**best_part.params()}, trials


# --- hybrid weights ------------------------------------------------------------------------------


def fit_weights(
    ranker: HybridRanker,
    val: Validation,
    cold_tolerance: float = 0.03,
    log: Log = _quiet,
    passes: int = 2,
    learn_parts: bool = True,
    simulate_short: int = 400,
    zero: Sequence[str] = (),
) -> dict[str, Any]:
    """Fit `ranker.weights` in place (both buckets); returns a report of validation numbers.
    With `learn_parts=False` only the unseen-item offset is fitted (the fusion ranker's parts
    are combined by its network). Parts in `zero` keep weight 0 (kept for their evidence)."""
    report: dict[str, Any] = {}
    names = [n for n in ranker.parts if n not in zero]
    for bucket in BUCKETS:
        rows = val.users("warm", bucket, ranker.short_history)
        z = ranker.part_matrices(rows)
        simulated = 0
        if bucket == "short" and simulate_short:
            # Few real short-history users are a noisy basis for weights: add long-history users
            # seen through a random 1..short_history of their items, folded in like a chat user.
            sim_rows, sim_z = simulated_short_users(ranker, val, simulate_short)
            simulated = len(sim_rows)
            rows = np.concatenate([rows, sim_rows])
            z = {k: np.concatenate([z[k], sim_z[k]]) for k in z}
        if len(rows) == 0:
            report[bucket] = {"users": 0, "note": "no validation users; kept the other bucket's weights"}
            continue

        def objective(w: dict[str, float]) -> float:
            return _ndcg(ranker.combine_matrix(rows, z, Weights(w, HIDDEN)), rows, val)

        if learn_parts:
            weights, best, singles = coordinate_ascent(names, objective, passes)
            weights = {n: weights.get(n, 0.0) for n in ranker.parts}
        else:
            singles = {}
            weights = dict(ranker.weights[bucket].parts)
            best = objective(weights)
        unseen = HIDDEN
        cold_recall = 0.0
        cold_rows = val.users("cold", bucket, ranker.short_history)
        if ranker.scores_cold_items and len(cold_rows):
            zc = ranker.part_matrices(cold_rows)
            for offset in UNSEEN_GRID:
                warm = _ndcg(ranker.combine_matrix(rows, z, Weights(weights, offset)), rows, val)
                if warm < (1 - cold_tolerance) * best:
                    continue
                recall = _recall(ranker.combine_matrix(cold_rows, zc, Weights(weights, offset)), cold_rows, val)
                if recall > cold_recall:  # strictly better: ties keep the more conservative offset
                    unseen, cold_recall = offset, recall
        ranker.weights[bucket] = Weights({k: float(v) for k, v in weights.items()}, float(unseen))
        report[bucket] = {
            "users": int(len(rows)),
            "simulated_users": int(simulated),
            "single_part_ndcg_at_10": {k: round(v, 5) for k, v in singles.items()},
            "ndcg_at_10": round(best, 5),
            "unseen_offset": unseen,
            "cold_recall_at_10": round(cold_recall, 5),
        }
        log(
            f"  weights ({bucket} history, {len(rows)} users"
            + (f", {simulated} of them simulated" if simulated else "")
            + "): "
            + ", ".join(f"{k} {v:g}" for k, v in weights.items())
            + f"; unseen {unseen:g}; validation NDCG@10 {best:.4f}"
        )
    # A bucket without validation users borrows the other's weights.
    for bucket in BUCKETS:
        if report.get(bucket, {}).get("users") == 0:
            other = next(b for b in BUCKETS if b != bucket)
            ranker.weights[bucket] = Weights(dict(ranker.weights[other].parts), ranker.weights[other].unseen)
    return report


def coordinate_ascent(
    names: list[str], objective: Callable[[dict[str, float]], float], passes: int = 2,
    grid: tuple[float, ...] = WEIGHT_GRID,
) -> tuple[dict[str, float], float, dict[str, float]]:
    """Weights for `names` that maximize `objective`: start from the best single part (weight 1),
    then change one weight at a time over `grid` while that helps, at most `passes` rounds; at
    least one weight stays positive. Returns (weights, best objective, each part's objective alone)."""
    hidden = {n: 0.0 for n in names}
    singles = {n: objective({**hidden, n: 1.0}) for n in names}
    start = max(singles, key=singles.__getitem__)
    weights, best = {**hidden, start: 1.0}, singles[start]
    for _ in range(passes if len(names) > 1 else 0):
        improved = False
        for name in names:
            for value in grid:
                if value == weights[name]:
                    continue
                cand = {**weights, name: value}
                if not any(v > 0 for v in cand.values()):
                    continue
                score = objective(cand)
                if score > best + 1e-6:
                    best, weights, improved = score, cand, True
        if not improved:
            break
    return weights, best, singles


def simulated_short_histories(ranker: HybridRanker, val: Validation, limit: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Up to `limit` long-history validation users (seeded draw), each reduced to a random
    1..short_history of their training items: rows and the kept items (catalog positions)."""
    rng = np.random.default_rng(ranker.data.seed + 1)
    rows = val.users("warm", "long", ranker.short_history)
    if len(rows) > limit:
        rows = np.sort(rng.choice(rows, limit, replace=False))
    kept = []
    for row in rows:
        history = ranker.data.train.row_items(int(row))
        kept.append(rng.choice(history, size=int(rng.integers(1, ranker.short_history + 1)), replace=False))
    return rows, kept


def simulated_short_users(ranker: HybridRanker, val: Validation, limit: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """`simulated_short_histories` scored through the serving path (folded in like a chat user):
    rows and standardized part scores."""
    rows, kept = simulated_short_histories(ranker, val, limit)
    return rows, part_scores_of_histories(ranker, kept)


def part_scores_of_histories(ranker: HybridRanker, kept: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Each part's standardized scores of every item for people known only by the items `kept`
    (one array each), through the serving path (fold-in)."""
    items = np.arange(ranker.data.n_items)
    z: dict[str, list[np.ndarray]] = {name: [] for name in ranker.parts}
    for keep in kept:
        state = UserState(None, keep.astype(np.int64), np.ones(len(keep), np.float32), np.zeros(0, np.int64), True)
        for name, values in ranker._part_scores(state, items).items():
            z[name].append(values)
    return {name: np.stack(v) if v else np.zeros((0, len(items)), np.float32) for name, v in z.items()}


def request_text(title: str, text: str) -> str:
    """A simulated request for an item: its description without its title."""
    out = text.replace(title, "", 1) if title else text
    return out.strip(" .,-:;") or text


def fit_semantic_weight(
    ranker: HybridRanker,
    val: Validation,
    requests: list[str],
    embed: Callable[[list[str]], np.ndarray] | None,
    n_candidates: int = 100,
    log: Log = _quiet,
    max_requests: int = 300,
) -> dict[str, Any]:
    """Fit the ranker's semantic weight of each history bucket on simulated requests (see the
    module docstring), up to `max_requests` users per bucket.

    Per bucket because the parts' weights differ in scale between them: for people with a short
    history popularity weighs about eight times what the long-history parts weigh together, so
    one shared weight let the request's words barely count for them ("a christmas movie" from a
    new person gave Toy Story before The Nightmare Before Christmas). `requests[j]` is the request
    text for catalog item j. Without an embedder the weights stay at their defaults and the report
    says so."""
    if embed is None:
        return {"note": "no embedder; semantic weight left at its default", "semantic_weight": ranker.semantic_weight}
    rng = np.random.default_rng(ranker.data.seed)
    warm = val.users("warm")
    sizes = val.history[warm]
    report: dict[str, Any] = {}
    for bucket in BUCKETS:
        rows = warm[np.array([ranker.bucket(int(s)) == bucket for s in sizes], bool)]
        if len(rows) > max_requests:
            rows = np.sort(rng.choice(rows, max_requests, replace=False))
        table = _semantic_table(ranker, val, rows, bucket, requests, embed, n_candidates, rng) if len(rows) else {}
        if not table:
            report[bucket] = {"note": "no simulated request found its target",
                              "semantic_weight": ranker.semantic_weights[bucket]}
            continue
        found = table.pop("requests")
        best = max(table, key=table.__getitem__)  # the smallest weight among equals (the grid ascends)
        ranker.semantic_weights[bucket] = float(best)
        log(f"  semantic weight, {bucket} histories: {best:g} (simulated requests: {found}; "
            f"NDCG@10 among candidates {table[best]:.4f})")
        report[bucket] = {"requests": found, "semantic_weight": best,
                          "ndcg_at_10_by_weight": {str(k): round(v, 5) for k, v in table.items()}}
    report["semantic_weight"] = ranker.semantic_weight
    return report


def _semantic_table(
    ranker: HybridRanker, val: Validation, rows: np.ndarray, bucket: str, requests: list[str],
    embed: Callable[[list[str]], np.ndarray], n_candidates: int, rng: np.random.Generator,
) -> dict[Any, float]:
    """NDCG@10 among each request's candidates by semantic weight, for `rows` of one bucket
    (plus "requests": how many found their target among the candidates); {} if none did."""
    targets = np.array([rng.choice(val.warm.indices[val.warm.indptr[r] : val.warm.indptr[r + 1]]) for r in rows])
    texts = sorted({requests[t] for t in targets})
    vectors = embed(texts)
    text_row = {t: i for i, t in enumerate(texts)}
    emb = np.asarray(ranker.data.embeddings, np.float32)
    z = ranker.part_matrices(rows)
    base = ranker.combine_matrix(rows, z, ranker.weights[bucket])
    # All simulated requests at once: similarity of each request to every item, seen items out.
    query = vectors[[text_row[requests[t]] for t in targets]]
    sims = query @ emb.T
    seen = val.seen[rows].tocoo()
    sims[seen.row, seen.col] = -np.inf
    k = min(n_candidates, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    sem = np.take_along_axis(sims, top, axis=1)
    sem = (sem - sem.mean(axis=1, keepdims=True)) / np.maximum(sem.std(axis=1, keepdims=True), 1e-9)
    relevant = np.zeros(sims.shape, bool)
    truth = val.warm[rows].tocoo()
    relevant[truth.row, truth.col] = True
    rel = np.take_along_axis(relevant, top, axis=1)
    keep = rel.any(axis=1)
    if not keep.any():
        return {}
    base_c = np.take_along_axis(base, top, axis=1)[keep]
    sem, rel = sem[keep], rel[keep]
    disc = 1.0 / np.log2(np.arange(2, 12))
    ideal = np.cumsum(disc)[np.minimum(rel.sum(axis=1), 10) - 1]

    def ndcg(w: float) -> float:
        score = base_c + w * sem
        order = np.argsort(-score, axis=1, kind="stable")[:, :10]
        hits = np.take_along_axis(rel, order, axis=1)
        return float(np.mean((hits * disc[: hits.shape[1]]).sum(axis=1) / ideal))

    return {"requests": int(keep.sum()), **{w: ndcg(w) for w in SEMANTIC_GRID}}
