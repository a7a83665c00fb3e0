"""The offline top-N protocol: convrec's rankers and peers, side by side, on one split.

`run_offline(index)` splits the index's interactions (see `convrec.eval.split` for the protocol),
trains every peer and every convrec ranker on the training part (convrec's tune on the validation
part), and scores the test part by full ranking over all catalog items with seen items removed.
Slices: users cut to ≤ 5 training interactions (cold users) and items held out of training
entirely (cold items: Recall@10 in the full ranking, and among the cold items only).

`write_report` turns the result into `offline.md` (tables), `offline.json` and `offline.png`.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from convrec.eval.metrics import batch_metrics, top_k
from convrec.eval.peers import cornac_bpr, cornac_ease, implicit_als_default, popularity, tuned_peer
from convrec.eval.split import Split, make_split
from convrec.ranking.base import Log, _quiet
from convrec.ranking.fitting import Validation
from convrec.ranking.train import DEFAULT_MODEL, MODELS, TrainOptions, Tuning, fit_ranker, ranking_data

#: convrec rankers evaluated by default: Stage 2's models and every Stage 6 paradigm.
CONVREC_MODELS = ("hybrid", "hybrid-regmf", "fusion", "als", "itemknn", "regmf", "profile", "kg", "content")
QUICK_MODELS = ("hybrid", "als", "profile")
#: The grid the Cornac BPR peer is tuned over (on validation NDCG@10) in a full run.
BPR_GRID = [{"k": k, "max_iter": 200, "learning_rate": lr} for k in (32, 64) for lr in (0.01, 0.05)]
PARADIGMS = ("profile", "regmf", "fusion", "kg", "hybrid", "hybrid-regmf", "content")
METRIC_KEYS = ("recall_at_10", "ndcg_at_10", "mrr_at_10", "hit_at_10", "coverage")


@dataclass
class OfflineConfig:
    """What to run. `quick` uses smaller tuning grids and fewer models (CI)."""

    seed: int = 42
    quick: bool = False
    models: tuple[str, ...] | None = None
    peers: bool = True
    spark: bool = False
    spark_master: str | None = None
    cold_tolerance: float = 0.03
    extra: dict[str, Any] = field(default_factory=dict)


def _metrics(scores: np.ndarray, rows: np.ndarray, seen: sp.csr_matrix, truth: sp.csr_matrix, n_items: int) -> dict[str, float]:
    m = batch_metrics(top_k(scores, 10, seen[rows]), truth[rows], 10, n_items)
    return {k: round(float(v), 5) if k != "users" else int(v) for k, v in m.items()}


class Evaluator:
    """Scores one model's full score matrix on the test part and its slices."""

    def __init__(self, split: Split) -> None:
        self.split = split
        self.seen = split.seen_for_test
        self.n_items = split.train.n_items
        self.rows = np.flatnonzero(np.diff(split.test.indptr) > 0)
        self.cold_user_rows = np.intersect1d(self.rows, split.cold_users)
        self.cold_item_rows = np.flatnonzero(np.diff(split.test_cold.indptr) > 0)
        self.all_rows = np.union1d(self.rows, self.cold_item_rows)

    def evaluate(self, scores_for: Any) -> dict[str, Any]:
        scores = scores_for(self.all_rows)
        pos = {r: i for i, r in enumerate(self.all_rows)}

        def sub(rows: np.ndarray) -> np.ndarray:
            return scores[[pos[r] for r in rows]]

        overall = _metrics(sub(self.rows), self.rows, self.seen, self.split.test, self.n_items)
        cold_users = _metrics(sub(self.cold_user_rows), self.cold_user_rows, self.seen, self.split.test, self.n_items)
        cold = sub(self.cold_item_rows)
        cold_full = _metrics(cold, self.cold_item_rows, self.seen, self.split.test_cold, self.n_items)
        only = np.full_like(cold, -np.inf)
        cols = self.split.test_cold_items
        only[:, cols] = cold[:, cols]
        cold_only = _metrics(only, self.cold_item_rows, self.seen, self.split.test_cold, self.n_items)
        return {
            "overall": overall,
            "cold_users": cold_users,
            "cold_items": {
                "recall_at_10": cold_full["recall_at_10"],
                "recall_at_10_among_cold": cold_only["recall_at_10"],
                "users": cold_full["users"],
            },
        }


def run_offline(index: Any, config: OfflineConfig | None = None, log: Log = _quiet) -> dict[str, Any]:
    """Run the protocol on an open index; returns the report (see `write_report`)."""
    config = config or OfflineConfig()
    started = time.perf_counter()
    full = ranking_data(index, seed=config.seed)
    split = make_split(full.train, seed=config.seed)
    data = dataclasses.replace(full, train=split.train)
    evaluator = Evaluator(split)
    val = Validation.from_split(split)
    val_rows = val.users("warm")
    log(
        f"Split: {split.train.nnz:,} train / {split.valid.nnz:,} valid / {split.test.nnz:,} test interactions, "
        f"{len(split.test_cold_items)} cold test items ({split.test_cold.nnz:,} interactions), "
        f"{len(split.cold_users)} cold users."
    )
    results: dict[str, dict[str, Any]] = {}
    info: dict[str, dict[str, Any]] = {}

    def record(name: str, scores_for: Any, train_s: float, kind: str, **extra: Any) -> None:
        res = evaluator.evaluate(scores_for)
        results[name] = res
        info[name] = {"kind": kind, "train_s": round(train_s, 2), **extra}
        o = res["overall"]
        log(
            f"{name:>22}: Recall@10 {o['recall_at_10']:.4f}  NDCG@10 {o['ndcg_at_10']:.4f}  "
            f"cold users NDCG@10 {res['cold_users']['ndcg_at_10']:.4f}  cold items Recall@10 "
            f"{res['cold_items']['recall_at_10']:.4f}"
        )

    # --- peers ------------------------------------------------------------------------------
    if config.peers:
        log("Peers …")

        def val_objective(score: Any) -> float:
            return batch_metrics(top_k(score(val_rows), 10, val.seen[val_rows]), val.warm[val_rows])["ndcg_at_10"]

        peer = popularity(split.train)
        record(peer.name, peer.score, peer.train_s, "peer", library=peer.library)
        peer = implicit_als_default(split.train, config.seed)
        record(peer.name, peer.score, peer.train_s, "peer", library=peer.library, params=peer.params)
        ease_grid = [{"lamb": v} for v in ((250.0, 500.0) if config.quick else (100.0, 250.0, 500.0, 1000.0))]
        peer, trials = tuned_peer(cornac_ease, ease_grid, split.train, val_objective, log)
        record(peer.name, peer.score, peer.train_s, "peer", library=peer.library, params=peer.params, trials=trials)
        bpr_grid = [{"k": 64, "max_iter": 100, "learning_rate": 0.01}] if config.quick else BPR_GRID
        peer, trials = tuned_peer(cornac_bpr, bpr_grid, split.train, val_objective, log)
        record(peer.name, peer.score, peer.train_s, "peer", library=peer.library, params=peer.params, trials=trials)

    # --- convrec's rankers -------------------------------------------------------------------
    options = TrainOptions(quick=config.quick, cold_tolerance=config.cold_tolerance, seed=config.seed)
    tuning = Tuning()
    names = config.models or (QUICK_MODELS if config.quick else CONVREC_MODELS)
    embed = _embedder(index)
    for name in names:
        if name not in MODELS:
            raise ValueError(f"unknown model {name!r}")
        log(f"convrec {name} …")
        t0 = time.perf_counter()
        ranker, report = fit_ranker(name, data, split, options, tuning, embed=embed, log=log)
        train_s = time.perf_counter() - t0
        val_scores = ranker.score_users(val_rows)
        val_metrics = batch_metrics(top_k(val_scores, 10, val.seen[val_rows]), val.warm[val_rows])
        extra = {
            "valid_ndcg_at_10": round(val_metrics["ndcg_at_10"], 5),
            "weights": {b: {"parts": w.parts, "unseen": w.unseen} for b, w in ranker.weights.items()},
            "semantic_weight": ranker.semantic_weight,
            "params": report["params"],
        }
        record(name, ranker.score_users, train_s, "convrec", **extra)
        if name == "als":
            # The pure-CF view of the tuned ALS (items without interactions cannot be scored).
            part = ranker.parts["als"]

            def pure(rows: np.ndarray, part: Any = part) -> np.ndarray:
                s = part.score_users(rows)
                s[:, ~part.item_trained] = -np.inf
                return s

            record("convrec-als", pure, train_s, "convrec", params=part.params(), note="tuned ALS alone, pure CF")

    # --- Spark MLlib ALS ---------------------------------------------------------------------
    if config.spark:
        from convrec.ranking.mf import ALSPart

        log("Spark MLlib ALS (local mode) …")
        t0 = time.perf_counter()
        part = ALSPart(**options.spark_params, engine="spark", spark_master=config.spark_master).fit(data, log=log)
        train_s = time.perf_counter() - t0

        def spark_scores(rows: np.ndarray, part: Any = part) -> np.ndarray:
            s = part.score_users(rows)
            s[:, ~part.item_trained] = -np.inf
            return s

        record("spark-als", spark_scores, train_s, "spark", params=part.params(), fit_s=part.model_.meta.get("fit_s"))

    return _assemble(index, split, results, info, config, time.perf_counter() - started, tuning)


def _embedder(index: Any) -> Any:
    """The index's embedder, with a cache: every model's semantic fit asks for the same requests."""
    cache: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        todo = [t for t in texts if t not in cache]
        if todo:
            for t, v in zip(todo, index.embedder.encode(todo)):
                cache[t] = v
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)

    return embed


def _assemble(
    index: Any, split: Split, results: dict[str, Any], info: dict[str, Any], config: OfflineConfig,
    seconds: float, tuning: Tuning,
) -> dict[str, Any]:
    peers = [n for n, i in info.items() if i["kind"] == "peer"]
    default = DEFAULT_MODEL if DEFAULT_MODEL in results else next((n for n in results if info[n]["kind"] == "convrec"), None)
    models: dict[str, Any] = {n: results[n]["overall"] for n in peers}
    if default is not None:
        models["convrec"] = results[default]["overall"]
    if "convrec-als" in results:
        models["convrec-als"] = results["convrec-als"]["overall"]
    paradigms = {n: results[n]["overall"] for n in PARADIGMS if n in results}
    report: dict[str, Any] = {
        "protocol": split.description,
        "catalog": index.name,
        "split": {
            "train": int(split.train.nnz),
            "valid": int(split.valid.nnz),
            "test": int(split.test.nnz),
            "test_cold_items": int(len(split.test_cold_items)),
            "test_cold_interactions": int(split.test_cold.nnz),
            "cold_users": int(len(split.cold_users)),
        },
        "models": models,
        "paradigms": paradigms,
        "cold_users": {n: r["cold_users"] for n, r in results.items()},
        "cold_items": {n: r["cold_items"] for n, r in results.items()},
        "all": {n: r["overall"] for n, r in results.items()},
        "details": info,
        "default_ranker": default,
        "tuning": {"params": tuning.params, "seconds": {k: round(v, 2) for k, v in tuning.seconds.items()}},
        "seconds": round(seconds, 1),
        "quick": config.quick,
        "machine": machine(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if "spark-als" in results:
        report["spark_als"] = {**results["spark-als"]["overall"], "train_s": info["spark-als"]["train_s"]}
    return report


def machine() -> str:
    import os

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


# --- output ------------------------------------------------------------------------------------------


def markdown_table(report: dict[str, Any]) -> str:
    """The results as a markdown table (one row per model), best first within each kind."""
    details = report["details"]
    lines = [
        "| model | kind | Recall@10 | NDCG@10 | MRR@10 | Hit@10 | coverage | cold users NDCG@10 | cold items Recall@10 | train s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = sorted(report["all"], key=lambda n: ({"peer": 0, "spark": 2}.get(details[n]["kind"], 1), -report["all"][n]["ndcg_at_10"]))
    for name in order:
        m = report["all"][name]
        label = f"**{name}** (default)" if name == report.get("default_ranker") else name
        lines.append(
            f"| {label} | {details[name]['kind']} | {m['recall_at_10']:.4f} | {m['ndcg_at_10']:.4f} | {m['mrr_at_10']:.4f} | "
            f"{m['hit_at_10']:.4f} | {m['coverage']:.3f} | {report['cold_users'][name]['ndcg_at_10']:.4f} | "
            f"{report['cold_items'][name]['recall_at_10']:.4f} | {details[name]['train_s']:.1f} |"
        )
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write offline.md, offline.json and offline.png into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "offline.json", "markdown": out_dir / "offline.md", "plot": out_dir / "offline.png"}
    paths["json"].write_text(json.dumps(report, indent=2), encoding="utf-8")
    md = [
        f"# Offline evaluation — {report['catalog']}",
        "",
        f"Protocol: {report['protocol']}.",
        "",
        f"Split: {report['split']}. Date: {report['date']}. Machine: {report['machine']}.",
        "",
        markdown_table(report),
        "",
        "Cold users: users cut to ≤ 5 training interactions. Cold items: items held out of training entirely; "
        "Recall@10 in the full ranking (pure CF cannot score them: 0).",
    ]
    paths["markdown"].write_text("\n".join(md) + "\n", encoding="utf-8")
    plot(report, paths["plot"])
    return paths


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(report["all"], key=lambda n: report["all"][n]["ndcg_at_10"])
    panels = [
        ("NDCG@10 (all users)", [report["all"][n]["ndcg_at_10"] for n in names]),
        ("Recall@10 (all users)", [report["all"][n]["recall_at_10"] for n in names]),
        ("NDCG@10 (users ≤ 5 interactions)", [report["cold_users"][n]["ndcg_at_10"] for n in names]),
        ("Recall@10 (cold items)", [report["cold_items"][n]["recall_at_10"] for n in names]),
    ]
    colors = [
        "#1f77b4" if report["details"][n]["kind"] == "peer" else "#ff7f0e" if report["details"][n]["kind"] == "spark" else "#2ca02c"
        for n in names
    ]
    fig, axes = plt.subplots(1, 4, figsize=(18, 0.45 * len(names) + 1.8), sharey=True)
    for ax, (title, values) in zip(axes, panels):
        ax.barh(names, values, color=colors)
        ax.set_title(title, fontsize=10)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.3f}", va="center", fontsize=7)
        ax.margins(x=0.25)
    fig.suptitle(f"convrec offline evaluation — {report['catalog']} (green: convrec, blue: peers, orange: Spark)", fontsize=11)
    fig.tight_layout()
    tmp = path.with_suffix(".png.tmp")
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    tmp.replace(path)
