"""Paradigm 1 — embedding-profile similarity.

A user is the weighted mean of the BERT embeddings of the items they liked (minus a share of the
ones they disliked); an item's score is the cosine between that profile and its embedding. Needs
no interactions at all, so it scores brand-new items and brand-new people alike.

Sentence embeddings of one catalog share a large common direction (every MovieLens text looks like
"Title (year). Genres: …"), which makes all cosines similar; subtracting the catalog mean first
(`center=True`) makes the differences between items count.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convrec.ranking.base import Log, RankingData, ScorePart, UserState, _quiet


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


class EmbeddingProfilePart(ScorePart):
    """score(user, item) = cos(Σ wᵢ eᵢ − dislike_weight · Σ e_d, e_item) over (centered) embeddings."""

    name = "profile"

    def __init__(self, center: bool = True, dislike_weight: float = 0.5) -> None:
        self.center = center
        self.dislike_weight = dislike_weight

    def params(self) -> dict[str, Any]:
        return {"center": self.center, "dislike_weight": self.dislike_weight}

    def fit(self, data: RankingData, log: Log = _quiet) -> EmbeddingProfilePart:
        self.bind(data)
        return self

    def bind(self, data: RankingData) -> None:
        self.data_ = data
        emb = np.asarray(data.embeddings, dtype=np.float32)
        if self.center:
            emb = emb - emb.mean(axis=0, keepdims=True)
        self.item_vectors_ = _unit(emb).astype(np.float32)

    def profile(self, state: UserState) -> np.ndarray:
        """The user's unit profile vector (zeros when they liked and disliked nothing)."""
        vec = np.zeros(self.item_vectors_.shape[1], np.float32)
        if len(state.items):
            vec += state.weights @ self.item_vectors_[state.items]
        if len(state.disliked):
            vec -= self.dislike_weight * self.item_vectors_[state.disliked].sum(axis=0)
        return _unit(vec)

    def profiles(self, rows: np.ndarray) -> np.ndarray:
        """Unit profiles of training users `rows`, from their training history."""
        return _unit(np.asarray(self.data_.train.matrix[rows] @ self.item_vectors_, dtype=np.float32))

    def score_users(self, rows: np.ndarray) -> np.ndarray:
        return self.profiles(rows) @ self.item_vectors_.T

    def score_state(self, state: UserState, items: np.ndarray) -> np.ndarray:
        return self.item_vectors_[items] @ self.profile(state)

    def item_similarity(self, item: int, others: np.ndarray) -> np.ndarray:
        return self.item_vectors_[others] @ self.item_vectors_[item]
