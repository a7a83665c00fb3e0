"""The offline split, shared by evaluation (`convrec evaluate offline`) and by training (which
holds out a validation part to choose hyperparameters and fit hybrid weights).

Protocol (all random choices from one seeded generator):

1. Cold items: of the items with at least one interaction, `cold_item_frac` are drawn as
   *test-cold* and `valid_cold_item_frac` (default: as many again) as *valid-cold*. Every interaction on them is removed from
   training: test-cold interactions form the cold-item slice, valid-cold ones join validation (so
   cold-item handling can be tuned without touching the test items).
2. The remaining (warm) interactions are split per user at random: `train_frac` / `valid_frac` /
   the rest test (80/10/10 by default); every user keeps at least one training interaction.
3. Cold users: `cold_user_frac` of the users keep only 1..`max_cold_history` random training
   interactions (drawn uniformly); the rest of their training part is discarded. Their validation
   and test parts are unchanged, so they form the "users with ≤ 5 interactions" slice.

Evaluation ranks every catalog item for each user, removing items in the user's training part
(and, for test, validation part), and counts the held-out interactions as relevant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from convrec.errors import ConvrecError
from convrec.ranking.data import InteractionMatrix


@dataclass
class Split:
    """Train/validation/test parts of one interaction matrix (same shape and id maps)."""

    train: InteractionMatrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    test_cold: sp.csr_matrix  # interactions on test-cold items
    valid_cold_items: np.ndarray
    test_cold_items: np.ndarray
    cold_users: np.ndarray  # rows whose training history was cut to ≤ max_cold_history
    description: str

    @property
    def seen_for_test(self) -> sp.csr_matrix:
        return (self.train.matrix + self.valid).tocsr()


def describe(
    train_frac: float, valid_frac: float, cold_item_frac: float, cold_user_frac: float, max_cold_history: int, seed: int
) -> str:
    test = 1.0 - train_frac - valid_frac
    return (
        f"per-user random {train_frac:.0%}/{valid_frac:.0%}/{test:.0%} train/valid/test split of warm interactions "
        f"(implicit: every rating = 1 positive); {cold_item_frac:.0%} of items held out entirely as test-cold "
        f"(+{cold_item_frac:.0%} as valid-cold); {cold_user_frac:.0%} of users cut to 1-{max_cold_history} training "
        f"interactions; full ranking over all items, seen (train, +valid for test) removed; seed {seed}"
    )


def make_split(
    data: InteractionMatrix,
    train_frac: float = 0.8,
    valid_frac: float = 0.1,
    cold_item_frac: float = 0.05,
    valid_cold_item_frac: float | None = None,
    cold_user_frac: float = 0.2,
    max_cold_history: int = 5,
    seed: int = 42,
) -> Split:
    """Split `data` as the module docstring describes. With `train_frac + valid_frac == 1` there is
    no test part (training's own tuning split: pass `cold_item_frac=0` and `valid_cold_item_frac`)."""
    if data.nnz == 0:
        raise ConvrecError("There are no interactions to split; ranking models need some to train on.")
    if not (0 < train_frac <= 1 and 0 <= valid_frac < 1 and train_frac + valid_frac <= 1 + 1e-9):
        raise ValueError("train_frac and valid_frac must be fractions that add up to at most 1")
    rng = np.random.default_rng(seed)
    coo = data.matrix.tocoo()
    rows, cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
    n_users, n_items = data.matrix.shape

    # 1. cold items
    active = np.flatnonzero(np.bincount(cols, minlength=n_items) > 0)
    n_cold = int(round(cold_item_frac * len(active)))
    vfrac = cold_item_frac if valid_cold_item_frac is None else valid_cold_item_frac
    n_vcold = int(round(vfrac * len(active))) if valid_frac > 0 else 0
    drawn = rng.permutation(active)
    test_cold_items = np.sort(drawn[:n_cold])
    valid_cold_items = np.sort(drawn[n_cold : n_cold + n_vcold])
    in_test_cold = np.isin(cols, test_cold_items)
    in_valid_cold = np.isin(cols, valid_cold_items)
    warm = ~(in_test_cold | in_valid_cold)

    # 2. per-user random split of warm interactions
    part = np.full(len(rows), -1, np.int8)  # 0 train, 1 valid, 2 test, -1 cold / discarded
    w_idx = np.flatnonzero(warm)
    order = w_idx[np.lexsort((rng.random(len(w_idx)), rows[w_idx]))]  # grouped by user, shuffled within
    counts = np.bincount(rows[order], minlength=n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, counts)
    n = np.repeat(counts, counts)
    n_train = np.maximum(1, np.round(train_frac * n)).astype(np.int64)
    n_valid = np.round(valid_frac * n).astype(np.int64)
    part[order] = np.where(rank < n_train, 0, np.where(rank < n_train + n_valid, 1, 2))
    part[in_valid_cold] = 1

    # 3. cold users: keep 1..max_cold_history of their (shuffled) training interactions
    train_counts = np.bincount(rows[part == 0], minlength=n_users)
    eligible = np.flatnonzero(train_counts > max_cold_history)
    cold_users = np.sort(rng.choice(eligible, size=int(round(cold_user_frac * n_users)), replace=False)) if (
        cold_user_frac > 0 and len(eligible)
    ) else np.zeros(0, np.int64)
    keep_n = np.zeros(n_users, np.int64)
    keep_n[cold_users] = rng.integers(1, max_cold_history + 1, size=len(cold_users))
    is_cold_user = np.zeros(n_users, bool)
    is_cold_user[cold_users] = True
    tr = order[part[order] == 0]  # training interactions, grouped by user, in shuffled order
    tr_counts = np.bincount(rows[tr], minlength=n_users)
    tr_starts = np.concatenate([[0], np.cumsum(tr_counts)[:-1]])
    tr_rank = np.arange(len(tr)) - np.repeat(tr_starts, tr_counts)
    cut = is_cold_user[rows[tr]] & (tr_rank >= keep_n[rows[tr]])
    part[tr[cut]] = -1

    def matrix(mask: np.ndarray) -> sp.csr_matrix:
        m = sp.csr_matrix(
            (np.ones(int(mask.sum()), np.float32), (rows[mask], cols[mask])), shape=(n_users, n_items)
        )
        m.sort_indices()
        return m

    return Split(
        train=data.with_matrix(matrix(part == 0)),
        valid=matrix(part == 1),
        test=matrix(part == 2),
        test_cold=matrix(in_test_cold),
        valid_cold_items=valid_cold_items,
        test_cold_items=test_cold_items,
        cold_users=cold_users,
        description=describe(train_frac, valid_frac, cold_item_frac, cold_user_frac, max_cold_history, seed),
    )
