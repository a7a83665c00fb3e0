"""Spark MLlib ALS for real, in local mode, on MovieLens: same factor format as `implicit`."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from convrec.eval.split import make_split
from convrec.ranking.fitting import Validation, _ndcg
from convrec.ranking.mf import ALSPart, FactorModel
from convrec.ranking.train import ranking_data

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs a Java runtime")]


def test_spark_als_local_mode_writes_the_shared_factor_format(ml_index, tmp_path) -> None:
    full = ranking_data(ml_index)
    split = make_split(full.train, seed=5)
    data = dataclasses.replace(full, train=split.train, seed=5)
    val = Validation.from_split(split)
    spark = ALSPart(factors=16, regularization=0.05, alpha=2.0, iterations=6, engine="spark", spark_master="local[2]").fit(data)
    local = ALSPart(factors=16, regularization=5.0, alpha=1.0, iterations=15).fit(data)
    model = spark.model_
    assert model.engine == "spark" and model.confidence == "1+alpha*r" and model.reg_scaling == "count"
    assert model.user_factors.shape == (split.train.n_users, 16)
    assert model.item_factors.shape == (split.train.n_items, 16)
    assert not model.item_factors[~model.item_trained].any(), "items without interactions have no factors"
    # Same folder format as the implicit engine, and it loads back identically.
    model.save(tmp_path / "factors")
    local.model_.save(tmp_path / "factors-local")
    assert sorted(p.name for p in (tmp_path / "factors").iterdir()) == sorted(p.name for p in (tmp_path / "factors-local").iterdir())
    loaded = FactorModel.load(tmp_path / "factors", data.train.item_ids)
    assert np.array_equal(loaded.item_factors, model.item_factors) and loaded.reg_scaling == "count"
    # Real quality: close to the implicit engine on the same split, far above chance.
    rows = val.users("warm")
    def pure(part):
        s = part.score_users(rows)
        s[:, ~part.item_trained] = -np.inf
        return _ndcg(s, rows, val)
    spark_ndcg, local_ndcg = pure(spark), pure(local)
    assert spark_ndcg > 0.8 * local_ndcg and spark_ndcg > 0.1, (spark_ndcg, local_ndcg)
    # Fold-in with Spark's conventions reproduces a trained user's vector.
    state = data.state_for_row(int(rows[0]))
    trained = spark.score_state(state, np.arange(data.n_items))
    state.folded = True
    folded = spark.score_state(state, np.arange(data.n_items))
    assert np.corrcoef(trained, folded)[0, 1] > 0.95
