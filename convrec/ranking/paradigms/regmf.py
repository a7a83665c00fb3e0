"""Paradigm 2 — LLM-embedding-regularized matrix factorization.

Implicit-feedback MF (the same weighted least squares as ALS, confidence α·r as in `implicit`)
whose item factors are pulled toward a learned linear projection of the items' BERT embeddings:

    loss = Σ_ui c_ui (p_ui − x_u·y_i)² + λ(‖X‖² + ‖Y‖²) + β Σ_i ‖y_i − Wᵀe_i‖² + μ‖W‖²

Trained by alternating exact minimization: users (X) and items (Y) by row-wise conjugate gradient
(as `implicit` does; the β term adds β·Wᵀe_i to the item right-hand side and β to its diagonal),
then W by ridge regression of the trained items' factors on their embeddings. No library offers
this model, so the loop is written here (numpy, vectorized over all rows at once).

Items with no interactions get factors from their text alone, y = s·Wᵀe, so they can be
recommended from the first day (s, `cold_scale`, is tuned on validation-cold items). Users are
not regularized toward text: MovieLens users have none (a stated-interest text could be added the
same way).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.errors import ConvrecError
from convrec.ranking.base import Log, RankingData, _quiet
from convrec.ranking.mf import FactorModel, FactorPart


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def cg_solve(
    r: sp.csr_matrix,
    other: np.ndarray,
    start: np.ndarray,
    alpha: float,
    lam: float,
    prior: np.ndarray | None = None,
    steps: int = 3,
) -> np.ndarray:
    """A few conjugate-gradient steps on every row's normal equations at once:
    (OᵀO + Oᵢᵀ(Cᵢ − I)Oᵢ + lam·I) x = Oᵢᵀ Cᵢ 1 + prior, with C = alpha·r on the nonzeros of `r`."""
    coo = r.tocoo()
    rows, cols = coo.row, coo.col
    conf = (alpha * coo.data).astype(np.float32)
    gram = other.T @ other
    c_mat = sp.csr_matrix((conf, (rows, cols)), shape=r.shape)
    b = np.asarray(c_mat @ other, dtype=np.float32)
    if prior is not None:
        b += prior

    def apply(x: np.ndarray) -> np.ndarray:
        out = x @ gram + lam * x
        s = (conf - 1.0) * _rowdot(x[rows], other[cols])
        out += sp.csr_matrix((s, (rows, cols)), shape=r.shape) @ other
        return out

    x = start.astype(np.float32, copy=True)
    res = b - apply(x)
    p = res.copy()
    rs_old = _rowdot(res, res)
    for _ in range(steps):
        ap = apply(p)
        denom = _rowdot(p, ap)
        step = np.divide(rs_old, denom, out=np.zeros_like(rs_old), where=denom > 1e-20)
        x += step[:, None] * p
        res -= step[:, None] * ap
        rs_new = _rowdot(res, res)
        beta = np.divide(rs_new, rs_old, out=np.zeros_like(rs_new), where=rs_old > 1e-20)
        p = res + beta[:, None] * p
        rs_old = rs_new
    return x


def centered_unit(embeddings: np.ndarray, mean: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    emb = np.asarray(embeddings, np.float32)
    mean = emb.mean(axis=0) if mean is None else mean
    out = emb - mean
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out.astype(np.float32), mean.astype(np.float32)


class TextRegularizedMFPart(FactorPart):
    """MF with item factors tied to a projection of the items' text embeddings."""

    name = "regmf"

    def __init__(
        self,
        factors: int = 32,
        regularization: float = 5.0,
        alpha: float = 2.0,
        text_weight: float = 5.0,
        projection_reg: float = 1.0,
        cold_scale: float = 1.0,
        iterations: int = 15,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.text_weight = text_weight
        self.projection_reg = projection_reg
        self.cold_scale = cold_scale
        self.iterations = iterations

    def params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "text_weight": self.text_weight,
            "projection_reg": self.projection_reg,
            "cold_scale": self.cold_scale,
            "iterations": self.iterations,
        }

    def fit(self, data: RankingData, log: Log = _quiet) -> TextRegularizedMFPart:
        r = data.train.matrix
        if r.nnz == 0:
            raise ConvrecError("There are no interactions to train on; ranking models need some.")
        t0 = time.perf_counter()
        emb, self.embedding_mean_ = centered_unit(data.embeddings)
        rng = np.random.default_rng(data.seed)
        k = self.factors
        x = (rng.standard_normal((r.shape[0], k)) * 0.01).astype(np.float32)
        y = (rng.standard_normal((r.shape[1], k)) * 0.01).astype(np.float32)
        trained = data.train.item_counts() > 0
        rt = r.T.tocsr()
        proj = np.zeros((emb.shape[1], k), np.float32)
        for _ in range(self.iterations):
            x = cg_solve(r, y, x, self.alpha, self.regularization)
            proj = self._fit_projection(emb[trained], y[trained])
            prior = self.text_weight * (emb @ proj)
            y = cg_solve(rt, x, y, self.alpha, self.regularization + self.text_weight, prior=prior)
        proj = self._fit_projection(emb[trained], y[trained])
        self.projection_ = proj
        item_factors = y.copy()
        item_factors[~trained] = self.cold_scale * (emb[~trained] @ proj)
        self.model_ = FactorModel(
            x,
            item_factors,
            trained,
            data.train.user_ids,
            data.train.item_ids,
            alpha=self.alpha,
            regularization=self.regularization,
            engine="regmf",
            confidence="alpha*r",
            meta={"iterations": self.iterations, "train_s": round(time.perf_counter() - t0, 3)},
        )
        self.bind(data)
        return self

    def _fit_projection(self, emb: np.ndarray, y: np.ndarray) -> np.ndarray:
        """W minimizing β‖Y − EW‖² + μ‖W‖² (ridge regression of factors on embeddings)."""
        d = emb.shape[1]
        ridge = self.projection_reg / max(self.text_weight, 1e-9)
        return np.linalg.solve(emb.T @ emb + ridge * np.eye(d, dtype=np.float32), emb.T @ y).astype(np.float32)

    def text_factors(self, embeddings: np.ndarray) -> np.ndarray:
        """Factors for items from their embeddings alone (what a new item gets)."""
        emb, _ = centered_unit(embeddings, self.embedding_mean_)
        return self.cold_scale * (emb @ self.projection_)

    def set_cold_scale(self, scale: float) -> None:
        """Set the scale of the text-only factors of untrained items (tuned on validation)."""
        self.cold_scale = scale
        cold = ~self.model_.item_trained
        if cold.any():
            self.model_.item_factors[cold] = self.text_factors(np.asarray(self.data_.embeddings)[cold])
        self.model_._gram = None
        self.model_._unit = None

    def _save_state(self, folder: Path) -> None:
        super()._save_state(folder)
        np.save(folder / "projection.npy", self.projection_)
        np.save(folder / "embedding_mean.npy", self.embedding_mean_)

    def _load_state(self, folder: Path, data: RankingData) -> None:
        self.projection_ = np.load(folder / "projection.npy")
        self.embedding_mean_ = np.load(folder / "embedding_mean.npy")
        super()._load_state(folder, data)
        # Items the model never saw (a catalog that grew) get their factors from text.
        missing = ~self.model_.item_trained & ~np.any(self.model_.item_factors != 0, axis=1)
        if missing.any():
            self.model_.item_factors[missing] = self.text_factors(np.asarray(data.embeddings)[missing])
