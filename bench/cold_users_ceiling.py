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

Two more signals are then fitted honestly, exactly as the default's short-history weights are
(coordinate ascent on the real short-history validation users plus 400 long-history ones seen
through 1-5 of their items), each added to the hybrid's parts:

- `bpr_folded`: the peer's own BPR model as a part. A new or simulated person is folded in by
  the BPR objective itself (item factors and biases fixed; 200 epochs of the expected SGD step
  from a zero vector, as Cornac's sampler would give them), which reproduces the peer's scores
  for its cold users (NDCG@10 within 2 % of the trained vectors' on each seed);
- `time_popularity`: popularity among the interactions near the person's own time (Gaussian
  kernel, 30 days, around the median timestamp of their known items). It is a signal the peers
  lack, but it profits from the random split mixing each user's one rating session into both
  training and test, so it would be reported with that caveat.

    python bench/cold_users_ceiling.py                 # seeds 42, 7, 1 (~12 minutes on 2 cores)
    python bench/cold_users_ceiling.py --seeds 42

Writes bench/results/cold-users-ceiling.json.
"""

from __future__ import annotations

import argparse
import dataclasses
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
    from convrec.ranking.base import zscore_rows
    from convrec.ranking.fitting import Validation
    from convrec.ranking.hybrid import HIDDEN, Weights
    from convrec.ranking.train import DEFAULT_MODEL, MODELS, TrainOptions, Tuning, fit_ranker, ranking_data

    full = ranking_data(index, seed=seed)
    split = make_split(full.train, seed=seed)
    data = dataclasses.replace(full, train=split.train)
    evaluator, val = Evaluator(split), Validation.from_split(split)
    ranker, _ = fit_ranker(DEFAULT_MODEL, data, split, TrainOptions(seed=seed), Tuning(), embed=_embedder(index))
    scored = [n for n in ranker.parts if n not in MODELS[DEFAULT_MODEL].evidence_only]  # the parts that score
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

    own = search(scored)
    fused = search([*scored, "bpr"])
    signals = new_signals(index, full, split, ranker, val, bpr, rows, ndcg)
    found = {
        "default_validation_fitted": default,
        "grid_validation_fit_own_parts": own["validation_fit"],
        "grid_validation_fit_with_bpr_part": fused["validation_fit"],
        "oracle_own_parts": own["oracle"],
        "oracle_with_bpr_part": fused["oracle"],
        **{f"fitted_with_{name}": r["test"] for name, r in signals.items()},
    }
    fold_check = signals["bpr_folded"]["fold_in_check_cold_users_ndcg_at_10"]
    out = {
        "cold_users": int(len(rows)),
        "short_validation_users": int(len(short)),
        "bpr_params": bpr.params,
        "ndcg_at_10": {"cornac_bpr": round(bpr_ndcg, 5), **{k: round(v, 5) for k, v in found.items()}},
        "vs_bpr": {k: round(v / bpr_ndcg, 4) for k, v in found.items()},
        "default_short_weights": ranker.weights["short"].parts,
        "bpr_fold_in_check_ndcg_at_10": fold_check,
        "weights": {
            "validation_fit_own_parts": own["validation_weights"],
            "validation_fit_with_bpr_part": fused["validation_weights"],
            "oracle_own_parts": own["oracle_weights"],
            "oracle_with_bpr_part": fused["oracle_weights"],
            **{f"fitted_with_{name}": r["weights"] for name, r in signals.items()},
        },
    }
    log(f"seed {seed}: " + json.dumps(out["vs_bpr"]))
    return out


def bpr_fold_in(factors: np.ndarray, bias: np.ndarray, known: np.ndarray, items: np.ndarray, lr: float,
                reg: float, epochs: int = 200) -> np.ndarray:
    """A user vector for positives `items` under fixed BPR item factors and biases: `epochs` rounds
    of the expected SGD step of Cornac's sampler (each positive once, against a uniform negative
    among the items it was trained on, `known`), from a zero vector (deterministic)."""
    negative = known.copy()
    negative[items] = False
    vp, bp, vn, bn = factors[items], bias[items], factors[negative], bias[negative]
    user = np.zeros(factors.shape[1], np.float32)
    for _ in range(epochs):
        x = (vp @ user + bp)[:, None] - (vn @ user + bn)[None, :]
        z = 1.0 / (1.0 + np.exp(x))  # σ(−x): how wrong each (positive, negative) pair still is
        step = z.mean(axis=1) @ vp - (z.sum(axis=0) @ vn) / vn.shape[0]
        user = user + lr * (step - len(items) * reg * user)
    return user


def new_signals(index: Any, full: Any, split: Any, ranker: Any, val: Any, bpr: Any, rows: np.ndarray,
                ndcg: Any) -> dict[str, dict[str, Any]]:
    """The two signals of the module docstring, each fitted like the default's short-history
    weights and scored on the test cold users `rows`."""
    import scipy.sparse as sp

    from convrec.ranking.base import zscore_rows
    from convrec.ranking.fitting import _ndcg, coordinate_ascent, part_scores_of_histories, simulated_short_histories
    from convrec.ranking.hybrid import HIDDEN, Weights
    from convrec.ranking.train import DEFAULT_MODEL, MODELS

    real = val.users("warm", "short", ranker.short_history)
    sim_rows, sim_kept = simulated_short_histories(ranker, val, 400)
    basis = np.concatenate([real, sim_rows])
    known = [ranker.data.train.row_items(int(r)) for r in real] + sim_kept  # what each basis user shows
    z_basis = ranker.part_matrices(real)
    z_sim = part_scores_of_histories(ranker, sim_kept)
    z_basis = {k: np.concatenate([z_basis[k], z_sim[k]]) for k in z_basis}
    z_test = ranker.part_matrices(rows)
    n_items = ranker.data.n_items

    # BPR: the peer's item side; known users keep their trained vectors, simulated ones fold in.
    model, dataset = bpr.fitted
    factors = np.zeros((n_items, model.k), np.float32)
    bias = np.full(n_items, -1e3, np.float32)  # items BPR never saw rank last, as in the peer
    for raw, idx in dataset.iid_map.items():
        factors[int(raw)], bias[int(raw)] = model.i_factors[idx], model.i_biases[idx]
    seen = bias > -1e3
    trained = {int(raw): idx for raw, idx in dataset.uid_map.items()}
    lr, reg = bpr.params["learning_rate"], bpr.params.get("lambda_reg", 0.01)
    users_b = np.stack([model.u_factors[trained[int(r)]] for r in real]
                       + [bpr_fold_in(factors, bias, seen, k, lr, reg) for k in sim_kept])
    bpr_basis = users_b @ factors.T + bias
    bpr_test = np.stack([model.u_factors[trained[int(r)]] for r in rows]) @ factors.T + bias
    folded_test = np.stack([bpr_fold_in(factors, bias, seen, split.train.row_items(int(r)), lr, reg) for r in rows])
    fold_check = {"trained_vectors": round(ndcg(bpr_test), 5), "folded_in": round(ndcg(folded_test @ factors.T + bias), 5)}

    # Popularity around the person's time: timestamps of the training interactions.
    frame = index.catalog.interactions.frame
    r_idx = frame["user"].map(full.train.user_index).to_numpy()
    c_idx = frame["item"].map(full.train.item_index).to_numpy()
    ok = ~(np.isnan(r_idx.astype(float)) | np.isnan(c_idx.astype(float)) | np.isnan(frame["time"].to_numpy()))
    days = sp.csr_matrix((frame["time"].to_numpy()[ok] / 86400.0, (r_idx[ok].astype(int), c_idx[ok].astype(int))),
                         shape=full.train.matrix.shape)
    coo = split.train.matrix.tocoo()
    t_train = np.asarray(days[coo.row, coo.col]).ravel()

    def around(user_rows: Any, items: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(items), n_items), np.float32)
        for k, (row, its) in enumerate(zip(user_rows, items)):
            when = float(np.median(np.asarray(days[int(row), its].todense()).ravel()))
            out[k] = np.bincount(coo.col, weights=np.exp(-0.5 * ((t_train - when) / 30.0) ** 2), minlength=n_items)
        return np.log1p(out)

    time_basis = around(basis, known)
    time_test = around(rows, [split.train.row_items(int(r)) for r in rows])

    out: dict[str, dict[str, Any]] = {}
    for name, extra_basis, extra_test in (("bpr_folded", bpr_basis, bpr_test), ("time_popularity", time_basis, time_test)):
        zb = {**z_basis, name: zscore_rows(extra_basis, ranker.norm_sample_)}
        zt = {**z_test, name: zscore_rows(extra_test, ranker.norm_sample_)}
        names = [*(n for n in ranker.parts if n not in MODELS[DEFAULT_MODEL].evidence_only), name]
        weights, best, _ = coordinate_ascent(
            names, lambda w, zb=zb: _ndcg(ranker.combine_matrix(basis, zb, Weights(w, HIDDEN)), basis, val))
        out[name] = {"weights": weights, "validation": round(best, 5),
                     "test": ndcg(ranker.combine_matrix(rows, zt, Weights(weights, HIDDEN)))}
    out["bpr_folded"]["fold_in_check_cold_users_ndcg_at_10"] = fold_check
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
