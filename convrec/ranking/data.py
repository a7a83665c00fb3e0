"""Interactions as a sparse user × item matrix, aligned with the catalog's item order.

Every ranking model works on catalog *positions* (the row of an item in `catalog.items`, which is
also its row in the index's embedding matrix), so factors, embeddings and knowledge-graph features
line up without look-ups. Users get rows in the order they first appear, sorted by id.

Implicit feedback: each (user, item) pair that has an event is one positive interaction with
value 1.0, whatever the rating was (a rating says the person watched or read it). Repeated events
on one pair count once. Events on items missing from the catalog are dropped and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from convrec.retrieval.catalog import Interactions


@dataclass
class InteractionMatrix:
    """A CSR matrix of positives (users × catalog items) plus the id maps that give it meaning."""

    matrix: sp.csr_matrix  # float32, 1.0 where a user interacted with an item
    user_ids: list[str]
    item_ids: list[str]  # catalog order: column j is catalog.items[j]
    dropped_unknown_items: int = 0

    def __post_init__(self) -> None:
        self.user_index = {u: i for i, u in enumerate(self.user_ids)}
        self.item_index = {it: j for j, it in enumerate(self.item_ids)}

    @classmethod
    def from_interactions(
        cls, interactions: Interactions, item_ids: Sequence[str], user_ids: Sequence[str] | None = None
    ) -> InteractionMatrix:
        """Build the matrix from a catalog's interactions; `user_ids` fixes the row order if given."""
        frame = interactions.frame
        item_index = {it: j for j, it in enumerate(item_ids)}
        cols = frame["item"].map(item_index)
        known = cols.notna().to_numpy()
        dropped = int((~known).sum())
        users = frame["user"].to_numpy()[known]
        cols = cols.to_numpy()[known].astype(np.int64)
        if user_ids is None:
            user_ids = sorted(pd.unique(users), key=_id_key)
        user_index = {u: i for i, u in enumerate(user_ids)}
        rows = pd.Series(users, dtype=object).map(user_index)
        keep = rows.notna().to_numpy()
        rows = rows.to_numpy()[keep].astype(np.int64)
        cols = cols[keep]
        matrix = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(user_ids), len(item_ids)), dtype=np.float32
        )
        matrix.data[:] = 1.0  # duplicates were summed: an event counts once
        matrix.sort_indices()
        return cls(matrix, list(user_ids), list(item_ids), dropped)

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    def with_matrix(self, matrix: sp.csr_matrix) -> InteractionMatrix:
        """The same id maps over another matrix of the same shape (a split's part)."""
        assert matrix.shape == self.matrix.shape
        out = InteractionMatrix(matrix.tocsr().astype(np.float32), self.user_ids, self.item_ids)
        out.matrix.sort_indices()
        return out

    def item_counts(self) -> np.ndarray:
        """Number of users who interacted with each item (the popularity prior's input)."""
        return np.diff(self.matrix.tocsc().indptr).astype(np.float64)

    def user_counts(self) -> np.ndarray:
        return np.diff(self.matrix.indptr)

    def row_items(self, row: int) -> np.ndarray:
        start, end = self.matrix.indptr[row], self.matrix.indptr[row + 1]
        return self.matrix.indices[start:end]


def _id_key(value: str) -> tuple[int, int | str]:
    """Sort numeric ids numerically and the rest as text (MovieLens user ids are numbers)."""
    return (0, int(value)) if value.isdigit() else (1, value)
