"""Peer recommenders run beside convrec's on the same split: popularity, the `implicit` library's
ALS with its default settings, and Cornac's BPR and EASE.

Each peer is trained on the split's training part only and returns a full score matrix (users ×
catalog items); items it cannot score (no training interactions) get -inf, as for any pure CF
model. Cornac's settings are chosen on the validation part from a small grid, so the comparison is
against tuned peers, not strawmen; implicit ALS keeps its defaults on purpose (the issue asks for
that baseline).
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convrec.ranking.base import Log, _quiet
from convrec.ranking.data import InteractionMatrix

Scorer = Callable[[np.ndarray], np.ndarray]


@dataclass
class PeerResult:
    name: str
    score: Scorer  # rows -> (len(rows), n_items)
    train_s: float
    params: dict[str, Any] = field(default_factory=dict)
    library: str = ""
    fitted: Any = None  # the library's model and dataset, for studies that look inside (bench/)


def popularity(train: InteractionMatrix) -> PeerResult:
    t0 = time.perf_counter()
    counts = train.item_counts().astype(np.float32)
    scores = np.where(counts > 0, counts, -np.inf).astype(np.float32)
    return PeerResult(
        "popularity",
        lambda rows: np.broadcast_to(scores, (len(rows), len(scores))).copy(),
        time.perf_counter() - t0,
        {},
        "convrec (counts)",
    )


def implicit_als_default(train: InteractionMatrix, seed: int = 42) -> PeerResult:
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    with threadpool_limits(1, "blas"):  # as implicit advises, and as convrec's own ALS runs
        model = AlternatingLeastSquares(random_state=seed)  # library defaults: 100 factors, λ 0.01, α 1, 15 iterations
        model.fit(train.matrix, show_progress=False)
    trained = train.item_counts() > 0
    uf, itf = np.asarray(model.user_factors), np.asarray(model.item_factors)

    def score(rows: np.ndarray) -> np.ndarray:
        out = uf[rows] @ itf.T
        out[:, ~trained] = -np.inf
        return out

    params = {"factors": model.factors, "regularization": model.regularization, "alpha": model.alpha, "iterations": model.iterations}
    return PeerResult("implicit-als-default", score, time.perf_counter() - t0, params, "implicit 0.7 (defaults)")


def _cornac_dataset(train: InteractionMatrix, seed: int):  # type: ignore[no-untyped-def]
    import cornac

    coo = train.matrix.tocoo()
    triples = [(str(u), str(i), 1.0) for u, i in zip(coo.row, coo.col)]
    return cornac.data.Dataset.from_uir(triples, seed=seed)


def _cornac_scorer(model: Any, dataset: Any, n_users: int, n_items: int) -> Scorer:
    """Scores over catalog positions from a fitted Cornac model (unknown items: -inf)."""
    item_pos = np.full(dataset.num_items, -1, np.int64)
    for raw, idx in dataset.iid_map.items():
        item_pos[idx] = int(raw)
    user_idx = np.full(n_users, -1, np.int64)
    for raw, idx in dataset.uid_map.items():
        user_idx[int(raw)] = idx

    def score(rows: np.ndarray) -> np.ndarray:
        out = np.full((len(rows), n_items), -np.inf, np.float32)
        for k, row in enumerate(rows):
            u = user_idx[row]
            if u >= 0:
                out[k, item_pos] = np.asarray(model.score(int(u)), np.float32)
        return out

    return score


def cornac_ease(train: InteractionMatrix, lamb: float = 500.0, seed: int = 42) -> PeerResult:
    from cornac.models import EASE

    t0 = time.perf_counter()
    dataset = _cornac_dataset(train, seed)
    model = EASE(lamb=lamb, posB=True, seed=seed, verbose=False)
    with contextlib.redirect_stdout(io.StringIO()):
        model.fit(dataset)
    return PeerResult(
        "cornac-ease", _cornac_scorer(model, dataset, train.n_users, train.n_items), time.perf_counter() - t0,
        {"lamb": lamb, "posB": True}, "cornac 3.0 EASE",
    )


def cornac_bpr(
    train: InteractionMatrix, k: int = 64, max_iter: int = 200, learning_rate: float = 0.01,
    lambda_reg: float = 0.01, seed: int = 42,
) -> PeerResult:
    from cornac.models import BPR

    t0 = time.perf_counter()
    dataset = _cornac_dataset(train, seed)
    model = BPR(k=k, max_iter=max_iter, learning_rate=learning_rate, lambda_reg=lambda_reg, seed=seed, verbose=False)
    with contextlib.redirect_stdout(io.StringIO()):
        model.fit(dataset)
    params = {"k": k, "max_iter": max_iter, "learning_rate": learning_rate, "lambda_reg": lambda_reg}
    return PeerResult(
        "cornac-bpr", _cornac_scorer(model, dataset, train.n_users, train.n_items), time.perf_counter() - t0,
        params, "cornac 3.0 BPR", fitted=(model, dataset),
    )


def tuned_peer(
    build: Callable[..., PeerResult],
    grid: list[dict[str, Any]],
    train: InteractionMatrix,
    objective: Callable[[Scorer], float],
    log: Log = _quiet,
) -> tuple[PeerResult, list[dict[str, Any]]]:
    """Fit `build(train, **params)` for each grid point; keep the best by `objective`."""
    best, best_score, trials = None, -1.0, []
    for params in grid:
        peer = build(train, **params)
        score = objective(peer.score)
        trials.append({**params, "valid_ndcg_at_10": round(score, 5), "train_s": round(peer.train_s, 2)})
        log(f"  {peer.name} {params}: validation NDCG@10 {score:.4f}")
        if score > best_score:
            best, best_score = peer, score
    assert best is not None
    return best, trials


