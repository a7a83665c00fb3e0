"""The popularity prior: how many people interacted with an item (log-scaled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convrec.ranking.base import Log, RankingData, ScorePart, UserState, _quiet


class PopularityPart(ScorePart):
    """score(item) = log(1 + number of training users who interacted with it); the same for
    everyone. Items nobody interacted with score 0, the lowest."""

    name = "popularity"

    def fit(self, data: RankingData, log: Log = _quiet) -> PopularityPart:
        self.counts_ = data.train.item_counts()
        self.scores_ = np.log1p(self.counts_).astype(np.float32)
        self.bind(data)
        return self

    def score_users(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.scores_, (len(rows), len(self.scores_))).copy()

    def score_state(self, state: UserState, items: np.ndarray) -> np.ndarray:
        return self.scores_[items]

    def _save_state(self, folder: Path) -> None:
        np.save(folder / "counts.npy", self.counts_)

    def _load_state(self, folder: Path, data: RankingData) -> None:
        self.counts_ = np.load(folder / "counts.npy")
        self.scores_ = np.log1p(self.counts_).astype(np.float32)
        self.bind(data)
