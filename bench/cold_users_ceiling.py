"""How far could *any* weighting of the hybrid's parts go on cold users? An upper bound for #7.

Stage 6 asks the default ranker for ≥ 1.05× the best peer's NDCG@10 on users with ≤ 5 training
interactions (the best peer there is Cornac BPR). The default hybrid fits its short-history
weights on validation users and lands near 1.0×. This script asks whether better weights could
close the gap, or whether the parts themselves are the limit:

- for each split seed, the default ranker is trained and tuned exactly as in the offline protocol
  (training and validation parts only), and the peer BPR is tuned on validation as a peer;
- then every weighting on a grid is scored twice: on the real short-history *validation* users
  (what an honest fit of these parts would pick; no simulated users, since BPR cannot fold in a
  new person) and **on the test cold users themselves**: an oracle, which no honest ranker can
  use. It is a ceiling, not a result;
- the search runs over the hybrid's own parts, and again with BPR's scores added as one more part
  (a fusion of the peer into convrec).

If the oracle stays under 1.05×, no re-weighting of these parts reaches the target. If only the
oracle passes it, the gain lies in choosing weights on the test users: ~190 cold users are too
few for weights chosen elsewhere to carry over.

    python bench/cold_users_ceiling.py                 # seeds 42, 7, 1 (~10 minutes on 2 cores)
    python bench/cold_users_ceiling.py --seeds 42

Writes bench/results/cold-users-ceiling.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from convrec.config import Settings, offline_environment  # noqa: E402

GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # only ratios matter; the fitted weights use up to 8


def ceiling(seed: int, index: Any, log: Any) -> dict[str, Any]:
    from convrec.eval.metrics import batch_metrics, top_k
    from convrec.eval.offline import BPR_GRID, Evaluator, _embedder
    from convrec.eval.peers import cornac_bpr, tuned_peer
    from convrec.eval.split import make_split
    from convrec.ranking.base import RankingData, zscore_rows
    from convrec.ranking.fitting import Validation
    from convrec.ranking.hybrid import HIDDEN, Weights
    from convrec.ranking.train import DEFAULT_MODEL, TrainOptions, Tuning, fit_ranker, ranking_data

    full = ranking_data(index, seed=seed)
    split = make_split(full.train, seed=seed)
    data = RankingData(split.train, full.embeddings, full.catalog_name, full.item_text, seed)
    evaluator, val = Evaluator(split), Validation.from_split(split)
    ranker, _ = fit_ranker(DEFAULT_MODEL, data, split, TrainOptions(seed=seed), Tuning(), embed=_embedder(index))
    rows = evaluator.cold_user_rows
    seen, truth = evaluator.seen[rows], split.test[rows]

    def ndcg(scores: np.ndarray) -> float:
        return float(batch_metrics(top_k(scores, 10, seen), truth)["ndcg_at_10"])

    val_rows = val.users("warm")

    def val_objective(score: Any) -> float:
        return batch_metrics(top_k(score(val_rows), 10, val.seen[val_rows]), val.warm[val_rows])["ndcg_at_10"]

    bpr, _ = tuned_peer(cornac_bpr, BPR_GRID, split.train, val_objective)
    short = val.users("warm", "short", ranker.short_history)  # real short-history validation users

    def matrices(which: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
        """The parts' standardized scores for users `which`, plus BPR's scores `b` as one more part."""
        z = ranker.part_matrices(which)
        finite = np.isfinite(b)
        z["bpr"] = zscore_rows(np.where(finite, b, b[finite].min()), ranker.norm_sample_)
        return z

    bpr_test = bpr.score(rows)
    z, z_val = matrices(rows, bpr_test), matrices(short, bpr.score(short))
    val_seen, val_truth = val.seen[short], val.warm[short]
    bpr_ndcg = ndcg(bpr_test)
    default = ndcg(ranker.score_users(rows))

    def search(names: list[str]) -> dict[str, Any]:
        """Every grid weighting of `names`: the best on the test users (oracle) and the best on the
        short-history validation users (what an honest fit of these parts would pick)."""
        oracle, oracle_w, fit, fit_w, fit_test = -1.0, {}, -1.0, {}, 0.0
        for combo in itertools.product(GRID, repeat=len(names)):
            if not any(combo):
                continue
            w = Weights(dict(zip(names, combo)), HIDDEN)
            test = ndcg(ranker.combine_matrix(rows, {n: z[n] for n in names}, w))
            valid = float(batch_metrics(top_k(ranker.combine_matrix(short, {n: z_val[n] for n in names}, w), 10, val_seen),
                                        val_truth)["ndcg_at_10"])
            if test > oracle:
                oracle, oracle_w = test, w.parts
            if valid > fit:
                fit, fit_w, fit_test = valid, w.parts, test
        return {"oracle": oracle, "oracle_weights": oracle_w, "validation_fit": fit_test, "validation_weights": fit_w}

    own = search(list(ranker.parts))
    fused = search([*ranker.parts, "bpr"])
    found = {
        "default_validation_fitted": default,
        "grid_validation_fit_own_parts": own["validation_fit"],
        "grid_validation_fit_with_bpr_part": fused["validation_fit"],
        "oracle_own_parts": own["oracle"],
        "oracle_with_bpr_part": fused["oracle"],
    }
    out = {
        "cold_users": int(len(rows)),
        "short_validation_users": int(len(short)),
        "bpr_params": bpr.params,
        "ndcg_at_10": {"cornac_bpr": round(bpr_ndcg, 5), **{k: round(v, 5) for k, v in found.items()}},
        "vs_bpr": {k: round(v / bpr_ndcg, 4) for k, v in found.items()},
        "default_short_weights": ranker.weights["short"].parts,
        "weights": {
            "validation_fit_own_parts": own["validation_weights"],
            "validation_fit_with_bpr_part": fused["validation_weights"],
            "oracle_own_parts": own["oracle_weights"],
            "oracle_with_bpr_part": fused["oracle_weights"],
        },
    }
    log(f"seed {seed}: " + json.dumps(out["vs_bpr"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=REPO / ".cache" / "bench-home", help="convrec home for the index")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "cold-users-ceiling.json")
    parser.add_argument("--seeds", default="42,7,1", help="split seeds")
    args = parser.parse_args()
    offline_environment()
    from convrec.eval.offline import machine
    from ranking import open_index

    started = time.perf_counter()
    index = open_index(Settings(home=args.home))
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    per_seed = {str(s): ceiling(s, index, lambda m: print(m, flush=True)) for s in seeds}
    keys = list(next(iter(per_seed.values()))["vs_bpr"])
    mean = {k: round(float(np.mean([r["ndcg_at_10"][k] for r in per_seed.values()])), 5) for k in (*keys, "cornac_bpr")}
    out = {
        "what": "cold-user NDCG@10 (≤ 5 training interactions): the validation-fitted default vs weights chosen on "
                "the test users themselves (an oracle ceiling, not a result), with and without BPR as a part",
        "target": "default ≥ 1.05× the best peer (cornac-bpr)",
        "grid": list(GRID),
        "seeds": per_seed,
        "mean_ndcg_at_10": mean,
        "mean_vs_bpr": {k: round(mean[k] / mean["cornac_bpr"], 4) for k in keys},
        "machine": machine(),
        "date": date.today().isoformat(),
        "bench_s": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2), encoding="utf-8")
    tmp.replace(args.out)
    print(json.dumps(out["mean_vs_bpr"], indent=2))


if __name__ == "__main__":
    main()
