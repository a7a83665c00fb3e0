"""The offline report end to end on real MovieLens data (a small, fast variant), and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from convrec.cli import app
from convrec.config import Settings
from convrec.eval.offline import OfflineConfig, run_offline, write_report

pytestmark = pytest.mark.slow
runner = CliRunner()


def test_offline_report_end_to_end(ml_index, tmp_path: Path) -> None:
    report = run_offline(ml_index, OfflineConfig(quick=True, models=("als", "profile")))
    paths = write_report(report, tmp_path)
    data = json.loads(paths["json"].read_text())
    assert "80%/10%/10%" in data["protocol"] and "full ranking" in data["protocol"]
    for name in ("popularity", "implicit-als-default", "cornac-ease", "cornac-bpr", "convrec", "convrec-als"):
        metrics = data["models"][name]
        assert set(metrics) >= {"recall_at_10", "ndcg_at_10", "mrr_at_10", "hit_at_10", "coverage"}
        assert all(0.0 <= metrics[k] <= 1.0 for k in ("recall_at_10", "ndcg_at_10", "mrr_at_10", "hit_at_10"))
    assert "profile" in data["paradigms"]
    # Real learning happened: the tuned ALS beats popularity, and pure CF scores no cold item.
    assert data["models"]["convrec-als"]["ndcg_at_10"] > 1.3 * data["models"]["popularity"]["ndcg_at_10"]
    assert data["cold_items"]["convrec-als"]["recall_at_10"] == 0.0
    assert data["cold_items"]["profile"]["recall_at_10_among_cold"] > 0.0, "content scores items without interactions"
    assert data["cold_users"]["convrec-als"]["users"] >= 150
    md = paths["markdown"].read_text()
    assert "| cornac-ease | peer |" in md and "NDCG@10" in md
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_train_recommend_and_errors(ml_settings: Settings, ml_index) -> None:
    home = ["--home", str(ml_settings.home)]
    result = runner.invoke(app, [*home, "train", "--model", "als", "--no-tune"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Trained als for movielens" in result.output and "Tuning" not in result.output
    assert "Fitting als weights" in result.output, "progress lines are shown"
    result = runner.invoke(app, [*home, "recommend", "--model", "als", "--like", "50", "--like", "zzz", "-k", "3"],
                           env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "Ignored unknown item ids: zzz" in result.output
    result = runner.invoke(app, [*home, "train", "--engine", "flink"])
    assert result.exit_code == 2 and "--engine must be" in result.output
    result = runner.invoke(app, [*home, "train", "--model", "nope"])
    assert result.exit_code == 2 and "Unknown model 'nope'" in result.output
    result = runner.invoke(app, [*home, "evaluate", "offline", "--model", "nope"])
    assert result.exit_code == 2 and "Unknown model" in result.output


def test_training_without_interactions_is_a_clear_error(tmp_path: Path, settings: Settings) -> None:
    from convrec.ranking import UserProfile, load_ranker
    from convrec.ranking.train import train
    from convrec.retrieval.catalog import Catalog, CatalogSchema, Item
    from convrec.retrieval.index import Index, build_index
    from convrec.errors import ConvrecError

    items = [Item(str(i), f"Book {i}", f"A story about topic {i}.") for i in range(5)]
    build_index(settings, Catalog("tiny", items, CatalogSchema(())), progress=False)
    index = Index.open(settings, "tiny")
    with pytest.raises(ConvrecError, match="no interactions"):
        train(index)
    ranker = load_ranker(index)  # the documented fallback: content + popularity
    ranked = ranker.rank(UserProfile("someone", liked={"1": 1.0}), [(str(i), 0.5) for i in range(5)])
    assert len(ranked) == 5 and all(np.isfinite(r.score) for r in ranked)
