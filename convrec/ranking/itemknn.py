"""Item-to-item collaborative filtering with the `implicit` library's BM25 nearest neighbours.

Each item keeps its K most co-consumed neighbours (BM25-weighted co-occurrence); a user's score
for an item is the summed similarity of the item to what they liked. It complements the factor
model where histories are short: one liked item already points at its neighbours.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.errors import ConvrecError
from convrec.ranking.base import Log, RankingData, ScorePart, UserState, _quiet


class ItemKNNPart(ScorePart):
    """score(user, item) = Σ_liked w_j · sim(j, item) − dislike_weight · Σ_disliked sim(d, item)."""

    name = "itemknn"
    needs_interactions = True

    def __init__(self, neighbours: int = 100, k1: float = 1.2, b: float = 0.75, dislike_weight: float = 0.5) -> None:
        self.neighbours = neighbours
        self.k1 = k1
        self.b = b
        self.dislike_weight = dislike_weight

    def params(self) -> dict[str, Any]:
        return {"neighbours": self.neighbours, "k1": self.k1, "b": self.b, "dislike_weight": self.dislike_weight}

    def fit(self, data: RankingData, log: Log = _quiet) -> ItemKNNPart:
        from implicit.nearest_neighbours import BM25Recommender

        if data.train.nnz == 0:
            raise ConvrecError("There are no interactions to train on; ranking models need some.")
        model = BM25Recommender(K=self.neighbours, K1=self.k1, B=self.b)
        with warnings.catch_warnings():  # implicit converts its own BM25-weighted copy from COO and says so
            warnings.simplefilter("ignore")
            model.fit(data.train.matrix, show_progress=False)
        self.similarity_ = sp.csr_matrix(model.similarity, dtype=np.float32)
        self.bind(data)
        return self

    def score_users(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.data_.train.matrix[rows] @ self.similarity_).toarray(), np.float32)

    def score_state(self, state: UserState, items: np.ndarray) -> np.ndarray:
        n = self.similarity_.shape[0]
        cols = np.concatenate([state.items, state.disliked])
        vals = np.concatenate([state.weights, -self.dislike_weight * np.ones(len(state.disliked), np.float32)])
        if len(cols) == 0:
            return np.zeros(len(items), np.float32)
        vec = sp.csr_matrix((vals.astype(np.float32), (np.zeros(len(cols), np.int64), cols)), shape=(1, n))
        return np.asarray((vec @ self.similarity_).toarray()).ravel()[items]

    def _save_state(self, folder: Path) -> None:
        sp.save_npz(folder / "similarity.npz", self.similarity_)

    def _load_state(self, folder: Path, data: RankingData) -> None:
        self.similarity_ = sp.load_npz(folder / "similarity.npz").tocsr()
        self.bind(data)
