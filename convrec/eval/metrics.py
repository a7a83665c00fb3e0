"""Top-N ranking metrics as plain functions.

Single-list functions take a ranked list of item ids (best first) and the set of relevant ids;
relevance is binary. Definitions (k = cut-off):

- Recall@k   = |relevant ∩ top k| / |relevant|
- NDCG@k     = DCG@k / IDCG@k, DCG = Σ over hits at rank r (1-based) of 1 / log2(r + 1); IDCG is the
               DCG of a perfect list, with min(|relevant|, k) hits at the top
- MRR@k      = 1 / rank of the first hit within the top k, 0 when there is none
- HitRate@k  = 1 if any relevant item is in the top k, else 0
- coverage   = share of the catalog that appears in at least one user's top k

Users without relevant items are skipped (they cannot score). `batch_metrics` computes the same
numbers for many users at once from a matrix of top-k positions; tests check they agree.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Hashable

import numpy as np
import scipy.sparse as sp

METRICS = ("recall_at_10", "ndcg_at_10", "mrr_at_10", "hit_at_10")


def _check(k: int) -> None:
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")


def recall_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int = 10) -> float:
    _check(k)
    if not relevant:
        return 0.0
    rel = set(relevant)
    return sum(1 for item in ranked[:k] if item in rel) / len(rel)


def ndcg_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int = 10) -> float:
    _check(k)
    if not relevant:
        return 0.0
    rel = set(relevant)
    dcg = sum(1.0 / np.log2(r + 2) for r, item in enumerate(ranked[:k]) if item in rel)
    idcg = sum(1.0 / np.log2(r + 2) for r in range(min(len(rel), k)))
    return float(dcg / idcg)


def mrr_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int = 10) -> float:
    _check(k)
    rel = set(relevant)
    for r, item in enumerate(ranked[:k]):
        if item in rel:
            return 1.0 / (r + 1)
    return 0.0


def hit_rate_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int = 10) -> float:
    _check(k)
    rel = set(relevant)
    return 1.0 if any(item in rel for item in ranked[:k]) else 0.0


def catalog_coverage(recommendations: Iterable[Sequence[Hashable]], n_items: int, k: int = 10) -> float:
    """Share of the catalog's `n_items` that appear in at least one top-k list."""
    _check(k)
    if n_items <= 0:
        raise ValueError("n_items must be positive")
    shown: set[Hashable] = set()
    for ranked in recommendations:
        shown.update(ranked[:k])
    return len(shown) / n_items


# --- many users at once ------------------------------------------------------------------------


def top_k(scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> np.ndarray:
    """Column indices of each row's k best scores, best first; `exclude` marks columns to skip
    (items the user has already seen). Ties break towards the lower column, deterministically."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    if exclude is not None:
        coo = exclude.tocoo()
        scores[coo.row, coo.col] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1)


def batch_metrics(top: np.ndarray, truth: sp.csr_matrix, k: int = 10, n_items: int | None = None) -> dict[str, float]:
    """Mean Recall/NDCG/MRR/HitRate@k (keys `recall_at_{k}` ...) over the rows of `truth` that have relevant items, plus
    catalog coverage over those rows' lists. `top[i]` is row i's ranked list (column indices)."""
    _check(k)
    top = top[:, :k]
    truth = truth.tocsr()
    n_rel = np.diff(truth.indptr)
    users = np.flatnonzero(n_rel > 0)
    names = [f"recall_at_{k}", f"ndcg_at_{k}", f"mrr_at_{k}", f"hit_at_{k}"]
    out: dict[str, float] = {name: 0.0 for name in names}
    out["coverage"] = 0.0
    out["users"] = int(len(users))
    if len(users) == 0:
        return out
    hits = _lookup(truth, users, top[users])
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * disc[: hits.shape[1]]).sum(axis=1)
    ideal = np.cumsum(disc)[np.minimum(n_rel[users], k) - 1]
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)
    out[names[0]] = float(np.mean(hits.sum(axis=1) / n_rel[users]))
    out[names[1]] = float(np.mean(dcg / ideal))
    out[names[2]] = float(np.mean(1.0 / first))
    out[names[3]] = float(np.mean(hits.any(axis=1)))
    total = n_items if n_items is not None else truth.shape[1]
    out["coverage"] = float(len(np.unique(top[users])) / total)
    return out


def _lookup(truth: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Boolean matrix: is truth[rows[i], cols[i, j]] nonzero."""
    sub = truth[rows]
    if sub.shape[0] * sub.shape[1] <= 50_000_000:  # small enough for a dense look-up table
        dense = np.zeros(sub.shape, dtype=bool)
        coo = sub.tocoo()
        dense[coo.row, coo.col] = coo.data != 0
        return np.take_along_axis(dense, cols, axis=1)
    out = np.zeros(cols.shape, dtype=bool)
    for i in range(sub.shape[0]):
        rel = sub.indices[sub.indptr[i] : sub.indptr[i + 1]]
        out[i] = np.isin(cols[i], rel)
    return out
