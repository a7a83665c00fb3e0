"""Implicit-feedback matrix factorization: the shared factor format, fold-in, and ALS training
with the `implicit` library.

`FactorModel` is what every factor engine writes (implicit ALS, Spark MLlib ALS, the
text-regularized MF of `paradigms/regmf.py`), so one index serves whichever engine trained it.
Folder layout: `meta.json` (engine, hyperparameters, confidence convention), `user_factors.npy`,
`item_factors.npy` (rows aligned with the catalog), `item_trained.npy` (items that had training
interactions), `users.json`, `items.json`.

Fold-in (people the model never saw, or known people with new in-chat likes) solves the same
weighted least-squares problem ALS solves for a user row (Hu, Koren & Volinsky 2008), with the item
factors fixed:  x = (YᵀY + Yᵢᵀ(Cᵢ − I)Yᵢ + λI)⁻¹ Yᵢᵀ Cᵢ pᵢ.  Liked items have p = 1, disliked items
p = 0 with the same confidence, so a dislike pushes the vector away from that item.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from convrec.errors import ConvrecError
from convrec.ranking.base import Log, RankingData, ScorePart, UserState, _quiet

Confidence = Literal["alpha*r", "1+alpha*r"]


@dataclass
class FactorModel:
    """User and item factors plus what is needed to fold in new users the same way."""

    user_factors: np.ndarray  # (n_users, k) float32
    item_factors: np.ndarray  # (n_items, k) float32, catalog order
    item_trained: np.ndarray  # (n_items,) bool: had training interactions
    user_ids: list[str]
    item_ids: list[str]
    alpha: float
    regularization: float
    engine: str
    # implicit weights a positive by alpha*r; Spark MLlib by 1 + alpha*r.
    confidence: Confidence = "alpha*r"
    # Spark MLlib scales λ by the user's number of ratings (ALS-WR); implicit does not.
    reg_scaling: Literal["none", "count"] = "none"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.user_factors = np.ascontiguousarray(self.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(self.item_factors, dtype=np.float32)
        self.item_trained = np.asarray(self.item_trained, dtype=bool)
        self._gram: np.ndarray | None = None
        self._unit: np.ndarray | None = None

    @property
    def factors(self) -> int:
        return int(self.item_factors.shape[1])

    @property
    def gram(self) -> np.ndarray:
        """YᵀY, cached: the part of every fold-in system that does not depend on the user."""
        if self._gram is None:
            y = self.item_factors.astype(np.float64)
            self._gram = y.T @ y
        return self._gram

    @property
    def unit_item_factors(self) -> np.ndarray:
        """Item factors scaled to unit length (for item-to-item cosine similarity)."""
        if self._unit is None:
            norms = np.linalg.norm(self.item_factors, axis=1, keepdims=True)
            self._unit = (self.item_factors / np.maximum(norms, 1e-12)).astype(np.float32)
        return self._unit

    def _confidence(self, strength: np.ndarray) -> np.ndarray:
        c = self.alpha * np.abs(strength)
        return c + 1.0 if self.confidence == "1+alpha*r" else c

    def fold_in(self, items: np.ndarray, weights: np.ndarray, disliked: np.ndarray | None = None) -> np.ndarray:
        """A user vector for positives `items` (strengths `weights`) and negatives `disliked`,
        solved against the fixed item factors; zeros when there is nothing to go on."""
        disliked = np.zeros(0, np.int64) if disliked is None else disliked
        if len(items) == 0 and len(disliked) == 0:
            return np.zeros(self.factors, np.float32)
        y = self.item_factors.astype(np.float64)
        k = self.factors
        lam = self.regularization * (len(items) + len(disliked) if self.reg_scaling == "count" else 1.0)
        a = self.gram + lam * np.eye(k)
        b = np.zeros(k)
        if len(items):
            yp = y[items]
            c = self._confidence(np.asarray(weights, np.float64))
            a += (yp * (c - 1.0)[:, None]).T @ yp
            b += yp.T @ c
        if len(disliked):
            yn = y[disliked]
            c = self._confidence(np.ones(len(disliked)))
            a += (yn * (c - 1.0)[:, None]).T @ yn
        return np.linalg.solve(a, b).astype(np.float32)

    # --- persistence -------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "user_factors.npy", self.user_factors)
        np.save(folder / "item_factors.npy", self.item_factors)
        np.save(folder / "item_trained.npy", self.item_trained)
        (folder / "users.json").write_text(json.dumps(self.user_ids), encoding="utf-8")
        (folder / "items.json").write_text(json.dumps(self.item_ids), encoding="utf-8")
        meta = {
            "engine": self.engine,
            "factors": self.factors,
            "alpha": self.alpha,
            "regularization": self.regularization,
            "confidence": self.confidence,
            "reg_scaling": self.reg_scaling,
            **self.meta,
        }
        (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, item_ids: list[str] | None = None) -> FactorModel:
        """Load factors; with `item_ids` (the serving catalog's order), rows are realigned to it
        and items the model does not know get zero factors (scored like untrained items)."""
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        users = json.loads((folder / "users.json").read_text(encoding="utf-8"))
        items = json.loads((folder / "items.json").read_text(encoding="utf-8"))
        uf = np.load(folder / "user_factors.npy")
        itf = np.load(folder / "item_factors.npy")
        trained = np.load(folder / "item_trained.npy")
        if uf.shape[0] != len(users) or itf.shape[0] != len(items) or uf.shape[1] != itf.shape[1]:
            raise ConvrecError(f"The factor files in {folder} do not fit together; train the model again.")
        if item_ids is not None and item_ids != items:
            pos = {it: j for j, it in enumerate(items)}
            new_f = np.zeros((len(item_ids), itf.shape[1]), np.float32)
            new_t = np.zeros(len(item_ids), bool)
            for j, it in enumerate(item_ids):
                old = pos.get(it)
                if old is not None:
                    new_f[j], new_t[j] = itf[old], trained[old]
            itf, trained, items = new_f, new_t, list(item_ids)
        known = {"engine", "factors", "alpha", "regularization", "confidence", "reg_scaling"}
        return cls(
            uf,
            itf,
            trained,
            users,
            items,
            alpha=float(meta["alpha"]),
            regularization=float(meta["regularization"]),
            engine=str(meta["engine"]),
            confidence=meta.get("confidence", "alpha*r"),
            reg_scaling=meta.get("reg_scaling", "none"),
            meta={k: v for k, v in meta.items() if k not in known},
        )


def train_implicit_als(
    data: RankingData,
    factors: int,
    regularization: float,
    alpha: float,
    iterations: int,
    progress: bool = False,
) -> FactorModel:
    """Fit ALS with the `implicit` library (its CPU solver: conjugate gradient, native code)."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    matrix = data.train.matrix
    if matrix.nnz == 0:
        raise ConvrecError("There are no interactions to train on; ranking models need some.")
    t0 = time.perf_counter()
    # implicit parallelises itself; a multi-threaded BLAS underneath it only contends (its advice).
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            random_state=data.seed,
        )
        model.fit(matrix, show_progress=progress)
    trained = data.train.item_counts() > 0
    item_factors = np.asarray(model.item_factors, np.float32)
    item_factors[~trained] = 0.0  # no evidence: implicit leaves them at their ALS solution of 0 anyway
    return FactorModel(
        np.asarray(model.user_factors, np.float32),
        item_factors,
        trained,
        data.train.user_ids,
        data.train.item_ids,
        alpha=alpha,
        regularization=regularization,
        engine="implicit",
        confidence="alpha*r",
        meta={"iterations": iterations, "train_s": round(time.perf_counter() - t0, 3)},
    )


class FactorPart(ScorePart):
    """Score = user vector · item vector, from a `FactorModel`. Known users without new likes use
    their trained vector; everyone else is folded in."""

    name = "cf"
    needs_interactions = True

    model_: FactorModel

    def score_users(self, rows: np.ndarray) -> np.ndarray:
        return self.model_.user_factors[rows] @ self.model_.item_factors.T

    def user_vector(self, state: UserState) -> np.ndarray:
        if state.row is not None and not state.folded:
            return self.model_.user_factors[state.row]
        return self.model_.fold_in(state.items, state.weights, state.disliked)

    def score_state(self, state: UserState, items: np.ndarray) -> np.ndarray:
        return self.model_.item_factors[items] @ self.user_vector(state)

    @property
    def item_trained(self) -> np.ndarray:
        return self.model_.item_trained

    def _save_state(self, folder: Path) -> None:
        self.model_.save(folder / "factors")

    def _load_state(self, folder: Path, data: RankingData) -> None:
        self.model_ = FactorModel.load(folder / "factors", data.train.item_ids)
        self.bind(data)


class ALSPart(FactorPart):
    """Implicit-feedback ALS. Engine `implicit` (default) or `spark` (Spark MLlib, any master)."""

    name = "als"

    def __init__(
        self,
        factors: int = 32,
        regularization: float = 5.0,
        alpha: float = 2.0,
        iterations: int = 20,
        engine: str = "implicit",
        spark_master: str | None = None,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.engine = engine
        self.spark_master = spark_master

    def params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "engine": self.engine,
            "spark_master": self.spark_master,
        }

    def fit(self, data: RankingData, log: Log = _quiet) -> ALSPart:
        if self.engine == "spark":
            from convrec.ranking.spark_als import train_spark_als

            self.model_ = train_spark_als(
                data,
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                master=self.spark_master,
                log=log,
            )
        elif self.engine == "implicit":
            self.model_ = train_implicit_als(data, self.factors, self.regularization, self.alpha, self.iterations)
        else:
            raise ConvrecError(f"Unknown training engine {self.engine!r}; use 'implicit' or 'spark'.")
        self.bind(data)
        return self
