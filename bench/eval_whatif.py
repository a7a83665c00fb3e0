"""What-if study on the user simulator: what the agent's retrieval and ranking choices cost.

    python bench/eval_whatif.py [--users 100]

Runs the simulator rules-only on the same users and turns as bench/eval.py, once per variant,
changing one choice of the agent's turn at a time (from outside: a module constant and a
stand-in around the trained ranker; the agent's code is unchanged):

- `as_served`: the agent as it is;
- `drop_seen`: items in the user's validation part are removed from the ranked list as well, so
  nothing from the history every baseline and the offline protocol remove (training and
  validation parts) is shown (the agent itself leaves out the training part: the history its
  ranker was given);
- `all_candidates`: the ranker receives every item that meets the filters instead of the
  `CANDIDATES` (100) nearest to the request's embedding (a request of facet values only gets
  every match as served; this extends it to requests with free words or a referenced movie);
- `all_candidates_drop_seen`: both;
- `all_candidates_drop_seen_no_semantic`: both, with the request-match weight set to 0.

For each it reports Hit@10 by turn, mean turns, the share of shown items the user had seen, and
how often the target was among the candidates the ranker received (and its rank when it was).
Writes bench/results/eval-whatif.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from convrec.config import load_settings, offline_environment  # noqa: E402

VARIANTS = {
    "as_served": {},
    "drop_seen": {"drop_seen": True},
    "all_candidates": {"all_candidates": True},
    "all_candidates_drop_seen": {"all_candidates": True, "drop_seen": True},
    "all_candidates_drop_seen_no_semantic": {"all_candidates": True, "drop_seen": True, "semantic_weight": 0.0},
}


class RankerProbe:
    """Stands in for the trained ranker: records what it is asked to rank and may drop items
    the user has seen; everything else is the ranker's own."""

    def __init__(self, ranker: Any, seen: dict[str, set[str]], drop_seen: bool) -> None:
        self._ranker = ranker
        self._seen = seen
        self._drop_seen = drop_seen
        self.calls: dict[str, list[tuple[list[str], list[str]]]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ranker, name)

    def rank(self, profile: Any, candidates: Any) -> Any:
        out = self._ranker.rank(profile, candidates)
        user = str(profile.user_id)
        if self._drop_seen:
            out = [r for r in out if r.item_id not in self._seen.get(user, ())]
        ids = [c if isinstance(c, str) else str(c[0]) for c in candidates]
        self.calls.setdefault(user, []).append((ids, [r.item_id for r in out]))
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--max-turns", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    offline_environment()
    settings = load_settings()

    import convrec.agent.turn as turn
    from convrec.eval.simulator import simulate
    from eval import commit, machine

    out: dict[str, Any] = {"machine": machine(), "date": date.today().isoformat(), "commit": commit(),
                           "users": args.users, "variants": {}}
    trained = None
    default_candidates = turn.CANDIDATES
    for name, opts in VARIANTS.items():
        probes: list[RankerProbe] = []

        def wrap(ranker: Any, split: Any, opts: dict[str, Any] = opts) -> RankerProbe:
            seen_m = split.seen_for_test.tocsr()
            ids = split.train.item_ids
            seen = {u: {ids[j] for j in seen_m.indices[seen_m.indptr[r]:seen_m.indptr[r + 1]]}
                    for r, u in enumerate(split.train.user_ids)}
            probe = RankerProbe(ranker, seen, opts.get("drop_seen", False))
            probes.append(probe)
            return probe

        turn.CANDIDATES = 100_000 if opts.get("all_candidates") else default_candidates
        semantic = None
        if trained is not None and "semantic_weight" in opts:
            semantic = trained[1].semantic_weight
            trained[1].semantic_weight = opts["semantic_weight"]
        print(f"{name} …", file=sys.stderr, flush=True)
        try:
            sim = simulate(settings, n_users=args.users, max_turns=args.max_turns, systems=["convrec", "cf_only"],
                           seed=args.seed, trained=trained, wrap_ranker=wrap, progress=True)
        finally:
            turn.CANDIDATES = default_candidates
            if semantic is not None:
                trained[1].semantic_weight = semantic
        trained = sim.trained
        data = sim.to_json()
        probe = probes[0]
        in_cands, ranks = [], []
        for user in sim.users:
            for cands, ranked in probe.calls.get(user.user_id, []):
                in_cands.append(user.target in cands)
                if user.target in ranked:
                    ranks.append(ranked.index(user.target) + 1)
        hit = data["hit_at_10_by_turn"]
        out["variants"][name] = {
            "hit_at_10_by_turn": hit["convrec"],
            "mean_turns": data["mean_turns"]["convrec"],
            "turn3_ratio_vs_cf_only": round(hit["convrec"][2] / hit["cf_only"][2], 3) if hit["cf_only"][2] else None,
            "seen_share": data["convrec"]["seen_share"],
            "target_among_candidates": round(float(np.mean(in_cands)), 3) if in_cands else None,
            "target_rank_le_10_when_candidate": round(float(np.mean([r <= 10 for r in ranks])), 3) if ranks else None,
            "target_median_rank_when_candidate": float(np.median(ranks)) if ranks else None,
            "ranker_calls": len(in_cands),
        }
        out["cf_only_hit_at_10_by_turn"] = hit["cf_only"]
        print(name, json.dumps(out["variants"][name]), flush=True)
    path = REPO / "bench" / "results" / "eval-whatif.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
