"""Offline metrics against hand-computed cases, and the split's promises."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from convrec.errors import ConvrecError
from convrec.eval.metrics import (
    batch_metrics,
    catalog_coverage,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    top_k,
)
from convrec.eval.split import make_split
from convrec.ranking.data import InteractionMatrix
from convrec.retrieval.catalog import Interactions

LOG2 = math.log2


def test_hand_computed_single_list() -> None:
    ranked = ["a", "b", "c", "d", "e"]
    relevant = {"b", "e", "z"}  # z is never recommended
    # hits at ranks 2 and 5 (1-based)
    assert recall_at_k(ranked, relevant, 5) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)
    dcg = 1 / LOG2(3) + 1 / LOG2(6)
    idcg = 1 / LOG2(2) + 1 / LOG2(3) + 1 / LOG2(4)
    assert ndcg_at_k(ranked, relevant, 5) == pytest.approx(dcg / idcg)
    assert mrr_at_k(ranked, relevant, 5) == pytest.approx(1 / 2)
    assert mrr_at_k(ranked, relevant, 1) == 0.0
    assert hit_rate_at_k(ranked, relevant, 1) == 0.0
    assert hit_rate_at_k(ranked, relevant, 2) == 1.0


def test_perfect_and_empty_cases() -> None:
    assert ndcg_at_k(["x", "y"], {"x", "y"}, 10) == pytest.approx(1.0)
    # one relevant item at rank 1 among ten: ideal DCG has one hit
    assert ndcg_at_k(list("abcdefghij"), {"a"}, 10) == pytest.approx(1.0)
    assert ndcg_at_k(list("abcdefghij"), {"j"}, 10) == pytest.approx(1 / LOG2(11))
    assert recall_at_k(["a"], set(), 10) == 0.0
    assert ndcg_at_k(["a"], set(), 10) == 0.0
    with pytest.raises(ValueError):
        recall_at_k(["a"], {"a"}, 0)


def test_coverage_counts_distinct_items_in_top_k() -> None:
    lists = [["a", "b", "c"], ["a", "d", "e"], ["f", "a", "b"]]
    assert catalog_coverage(lists, n_items=10, k=2) == pytest.approx(4 / 10)  # a, b, d, f
    assert catalog_coverage(lists, n_items=6, k=3) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        catalog_coverage(lists, n_items=0)


def test_batch_metrics_agree_with_the_plain_functions() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 30
    scores = rng.random((n_users, n_items)).astype(np.float32)
    truth = sp.random(n_users, n_items, density=0.1, random_state=1, format="csr")
    truth.data[:] = 1
    seen = sp.random(n_users, n_items, density=0.2, random_state=2, format="csr")
    seen = (seen - seen.multiply(truth)).tocsr()  # seen and held-out never overlap
    seen.eliminate_zeros()
    top = top_k(scores, 10, seen)
    got = batch_metrics(top, truth, 10, n_items)
    expect = {"recall_at_10": [], "ndcg_at_10": [], "mrr_at_10": [], "hit_at_10": []}
    lists = []
    for u in range(n_users):
        rel = set(truth[u].indices)
        if not rel:
            continue
        s = scores[u].copy()
        s[seen[u].indices] = -np.inf
        ranked = list(np.argsort(-s, kind="stable")[:10])
        assert ranked == list(top[u]), "top_k = a full sort with seen items removed"
        assert not set(ranked) & set(seen[u].indices)
        lists.append(ranked)
        expect["recall_at_10"].append(recall_at_k(ranked, rel))
        expect["ndcg_at_10"].append(ndcg_at_k(ranked, rel))
        expect["mrr_at_10"].append(mrr_at_k(ranked, rel))
        expect["hit_at_10"].append(hit_rate_at_k(ranked, rel))
    for key, values in expect.items():
        assert got[key] == pytest.approx(np.mean(values)), key
    assert got["coverage"] == pytest.approx(catalog_coverage(lists, n_items))
    assert got["users"] == len(lists)


def _toy_matrix(n_users: int = 60, n_items: int = 80, per_user: int = 25, seed: int = 0) -> InteractionMatrix:
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        for i in rng.choice(n_items, per_user, replace=False):
            users.append(str(u))
            items.append(f"i{i}")
    return InteractionMatrix.from_interactions(Interactions.from_records(users, items), [f"i{i}" for i in range(n_items)])


def test_split_is_disjoint_deterministic_and_keeps_its_promises() -> None:
    data = _toy_matrix()
    a = make_split(data, seed=3)
    b = make_split(data, seed=3)
    assert (a.train.matrix != b.train.matrix).nnz == 0 and (a.test != b.test).nnz == 0
    parts = [a.train.matrix, a.valid, a.test, a.test_cold]
    for i in range(len(parts)):
        for j in range(i + 1, len(parts)):
            assert parts[i].multiply(parts[j]).nnz == 0, "parts never share an interaction"
    assert a.train.matrix.nnz + a.valid.nnz + a.test.nnz + a.test_cold.nnz <= data.nnz
    # cold items: no training (or validation) interactions at all
    cold = a.test_cold_items
    assert len(cold) == round(0.05 * 80) and a.train.matrix[:, cold].nnz == 0 and a.valid[:, cold].nnz == 0
    assert a.train.matrix[:, a.valid_cold_items].nnz == 0
    # cold users keep 1..5 training interactions; everyone keeps at least one
    counts = a.train.user_counts()
    assert len(a.cold_users) == round(0.2 * 60)
    assert counts[a.cold_users].max() <= 5 and counts.min() >= 1
    assert "80%/10%/10%" in a.description


def test_interaction_matrix_drops_unknown_items_and_counts_them() -> None:
    inter = Interactions.from_records(["u1", "u1", "u2", "u2"], ["a", "nope", "a", "a"])
    m = InteractionMatrix.from_interactions(inter, ["a", "b"])
    assert m.dropped_unknown_items == 1
    assert m.nnz == 2 and m.matrix.max() == 1.0, "a repeated event counts once"
    assert list(m.item_counts()) == [2.0, 0.0]


def test_empty_interactions_cannot_be_split() -> None:
    m = InteractionMatrix.from_interactions(Interactions(pd.DataFrame(columns=["user", "item", "value", "time"])), ["a"])
    assert m.n_users == 0
    with pytest.raises(ConvrecError, match="no interactions"):
        make_split(m)
