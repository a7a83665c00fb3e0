"""Ranking benchmark: the offline protocol on MovieLens 100K (convrec's rankers, every Stage 6
paradigm, peers, Spark MLlib ALS), training time of `convrec train`, and the time to score 100
candidates for one person. Writes bench/results/ranking.json (+ ranking.md, ranking.png).

    python bench/ranking.py                  # full run (several minutes on 2 cores)
    python bench/ranking.py --quick --no-spark

Timings on a shared machine are noisy: wall-clock and process CPU seconds are both recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from convrec.config import Settings, offline_environment  # noqa: E402

PURE_CF = ("implicit-als-default", "cornac-ease", "cornac-bpr", "convrec-als", "spark-als", "itemknn")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def open_index(settings: Settings) -> Any:
    from convrec.errors import IndexNotBuiltError
    from convrec.retrieval.index import Index, build_index

    try:
        return Index.open(settings, "movielens")
    except IndexNotBuiltError:
        print("Building the MovieLens index …", flush=True)
        build_index(settings, "movielens", progress=False)
        return Index.open(settings, "movielens")


def time_training(index: Any, name: str, quick: bool) -> dict[str, Any]:
    from convrec.ranking.train import TrainOptions, train

    wall0, cpu0 = time.perf_counter(), _cpu_s()
    ranker, path, _ = train(index, name, TrainOptions(quick=quick), log=lambda m: print("  " + m, flush=True))
    return {
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "model": name,
        "train_s": round(time.perf_counter() - wall0, 2),
        "train_cpu_s": round(_cpu_s() - cpu0, 2),
        "path": str(path),
        "weights": {b: {"parts": w.parts, "unseen": w.unseen} for b, w in ranker.weights.items()},
        "semantic_weight": ranker.semantic_weight,
    }


def time_scoring(index: Any, name: str, repeats: int = 200) -> dict[str, Any]:
    from convrec.ranking import UserProfile, load_ranker

    ranker = load_ranker(index, name)
    rng = np.random.default_rng(0)
    ids = index.catalog.ids
    users = ranker.data.train.user_ids
    timings: dict[str, list[float]] = {"known_user": [], "known_user_with_likes": [], "new_user_3_likes": []}
    cpu: list[float] = []
    for rep in range(repeats):
        cands = [(ids[j], float(s)) for j, s in zip(rng.choice(len(ids), 100, replace=False), rng.random(100))]
        likes = {ids[j]: 1.0 for j in rng.choice(len(ids), 3, replace=False)}
        user = str(users[rng.integers(len(users))])
        for kind, profile in (
            ("known_user", UserProfile(user)),
            ("known_user_with_likes", UserProfile(user, liked=likes)),
            ("new_user_3_likes", UserProfile(None, liked=likes)),
        ):
            t0, c0 = time.perf_counter(), time.process_time()
            ranker.rank(profile, cands)
            if rep >= 5:  # warm-up calls excluded
                timings[kind].append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
    out = {kind: {"median_ms": round(statistics.median(v), 3), "p95_ms": round(float(np.percentile(v, 95)), 3)} for kind, v in timings.items()}
    every = [t for v in timings.values() for t in v]
    out["median_ms"] = round(statistics.median(every), 3)
    # CPU time of the calling process: what the call costs when it has a core to itself.
    out["cpu_median_ms"] = round(statistics.median(cpu), 3)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    out["candidates"] = 100
    out["calls"] = len(every)
    return out


def targets(report: dict[str, Any]) -> dict[str, Any]:
    """Ratios the issues set targets on, computed from the report."""
    all_ = report["all"]
    peers = [n for n, d in report["details"].items() if d["kind"] == "peer"]
    best_recall_peer = max(peers, key=lambda n: all_[n]["recall_at_10"])
    best_ndcg_peer = max(peers, key=lambda n: all_[n]["ndcg_at_10"])
    best_cold_peer = max(peers, key=lambda n: report["cold_users"][n]["ndcg_at_10"])
    default = report["default_ranker"]
    pure = [n for n in PURE_CF if n in all_]
    best_pure = max(pure, key=lambda n: all_[n]["recall_at_10"])
    out: dict[str, Any] = {
        "best_peer_recall": best_recall_peer,
        "best_peer_ndcg": best_ndcg_peer,
        "convrec_recall_vs_best_peer": round(all_[default]["recall_at_10"] / all_[best_recall_peer]["recall_at_10"], 4),
        "convrec_ndcg_vs_best_peer": round(all_[default]["ndcg_at_10"] / all_[best_ndcg_peer]["ndcg_at_10"], 4),
        "best_peer_cold_users": best_cold_peer,
        "default_cold_users_ndcg_vs_best_peer": round(
            report["cold_users"][default]["ndcg_at_10"] / report["cold_users"][best_cold_peer]["ndcg_at_10"], 4
        ),
        "best_pure_cf": best_pure,
        "cold_items": {},
    }
    for name in ("regmf", "hybrid-regmf", "profile", "content", "hybrid", default):
        if name in all_:
            out["cold_items"][name] = {
                "cold_recall_at_10": report["cold_items"][name]["recall_at_10"],
                "overall_recall_vs_best_pure_cf": round(all_[name]["recall_at_10"] / all_[best_pure]["recall_at_10"], 4),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=REPO / ".cache" / "bench-home", help="convrec home for the index")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ranking.json")
    parser.add_argument("--quick", action="store_true", help="small grids, few models")
    parser.add_argument("--no-spark", action="store_true", help="skip Spark MLlib ALS")
    parser.add_argument("--seeds", default="", help="extra split seeds to repeat the main comparison on, e.g. 7,1")
    args = parser.parse_args()

    offline_environment()
    from convrec.eval.offline import OfflineConfig, machine, run_offline, write_report
    from convrec.ranking.train import DEFAULT_MODEL

    settings = Settings(home=args.home)
    index = open_index(settings)
    started = time.perf_counter()
    log = lambda m: print(m, flush=True)  # noqa: E731
    report = run_offline(index, OfflineConfig(quick=args.quick, spark=not args.no_spark), log=log)
    extra_seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    seeds: dict[str, Any] = {}
    for seed in extra_seeds:
        log(f"Repeating on split seed {seed} …")
        rep = run_offline(index, OfflineConfig(seed=seed, quick=args.quick, models=(DEFAULT_MODEL, "hybrid-regmf", "regmf")), log=log)
        seeds[str(seed)] = {
            n: {"recall_at_10": rep["all"][n]["recall_at_10"], "ndcg_at_10": rep["all"][n]["ndcg_at_10"],
                "cold_users_ndcg_at_10": rep["cold_users"][n]["ndcg_at_10"], "cold_items_recall_at_10": rep["cold_items"][n]["recall_at_10"]}
            for n in rep["all"]
        }
        seeds[str(seed)]["targets"] = targets(rep)
    log("Timing `convrec train` (production: tuning split, weights, refit on all interactions) …")
    training = time_training(index, DEFAULT_MODEL, args.quick)
    log("Timing ranking of 100 candidates …")
    scoring = time_scoring(index, DEFAULT_MODEL)

    out = {
        "protocol": report["protocol"],
        "models": report["models"],
        "paradigms": report["paradigms"],
        "cold_users": report["cold_users"],
        "cold_items": report["cold_items"],
        "spark_als": report.get("spark_als"),
        "default_ranker": report["default_ranker"],
        "train_s": training["train_s"],
        "train_cpu_s": training["train_cpu_s"],
        "score_100_ms": scoring["median_ms"],
        "score_100_cpu_ms": scoring["cpu_median_ms"],
        "scoring": scoring,
        "training": training,
        "targets": targets(report),
        "all": report["all"],
        "details": report["details"],
        "split": report["split"],
        "tuning": report["tuning"],
        "seeds": seeds,
        "quick": args.quick,
        "machine": machine(),
        "date": report["date"],
        "bench_s": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2), encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:  # keep the markdown table and the plot beside the JSON
        paths = write_report(report, Path(tmp))
        for kind in ("markdown", "plot"):
            args.out.with_suffix(paths[kind].suffix).write_bytes(paths[kind].read_bytes())
    log(f"Wrote {args.out} (train {training['train_s']}s, score 100 candidates {scoring['median_ms']} ms).")
    log(json.dumps(out["targets"], indent=2))


if __name__ == "__main__":
    main()
