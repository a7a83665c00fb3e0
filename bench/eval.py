"""Evaluation benchmark: the shipped dialogue suites and the user simulator with its baselines.

    python bench/eval.py [--users 100] [--max-turns 5] [--zero-shot-users N] [--llm-users 10] [--suites-llm]

1. Replays every suite under eval/ against the agent rules-only (and with the LLM when
   `--suites-llm`): dialogues passed, constraint satisfaction, hallucinated titles.
2. Runs the simulator over `--users` held-out MovieLens users: convrec rules-only, popularity under
   the same filters, semantic retrieval only, CF only, and the LLM zero-shot baseline (the local
   LLM), all on the same users and turns; the rules-only run time is timed against the 15-minute
   target. The zero-shot baseline asks the LLM once per turn; where that is too slow for the
   machine, `--zero-shot-users N` runs it on the first N of the same users (the JSON says so and
   gives convrec's figures on those users beside it).
3. Runs convrec with the LLM (parsing and replies) over the first `--llm-users` of the same users
   and projects the time for all of them.

Writes bench/results/eval.json (the figures file), bench/results/eval-simulator.png and
bench/results/eval-suites.png, and the full reports under bench/results/eval/. Needs a built
MovieLens index (`convrec build`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from convrec.config import load_settings, offline_environment  # noqa: E402

RESULTS = REPO / "bench" / "results"
SYSTEMS_NO_LLM = ["convrec", "cf_only", "semantic_only", "popularity"]


def machine() -> str:
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared; load {load:.1f} at start), "
        f"torch {torch.__version__}, {'CUDA' if torch.cuda.is_available() else 'CPU only'}"
    )


def commit() -> str:
    """The code measured: HEAD, marked when the working tree has changes."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_suites(settings: Any, llm: Any | None, out: Path) -> dict[str, Any]:
    from convrec.agent.turn import Agent
    from convrec.eval.dialogues import DialogueRunner, load_suite, suite_files
    from convrec.eval.report import write_suite_report

    suites = [load_suite(p) for p in suite_files([REPO / "eval"])]
    agent = Agent(settings, llm=llm)
    results = DialogueRunner(agent, progress=True).run(suites)
    write_suite_report(results, out)
    s = results.summary()
    return {
        "dialogues": s["dialogues"],
        "passed": s["passed"],
        "checks": s["checks"],
        "checks_passed": s["checks_passed"],
        "constraint_satisfaction": s["constraint_satisfaction"],
        "constraint_checks": s["constraint_checks"],
        "hallucinated_titles": s["hallucinated_titles"],
        "failed": [f"{d.suite}/{d.id}" for d in results.dialogues if not d.passed],
        "by_kind": s["by_kind"],
        "seconds": s["seconds"],
        "llm": s["llm"],
    }


def subset_hits(sim: Any, system: str, n: int, max_turns: int) -> list[float]:
    """Hit@10 by turn of `system` over the first n simulated users only."""
    eps = sim.episodes[system][:n]
    return [round(sum(e.first_hit[10] is not None and e.first_hit[10] <= t for e in eps) / max(1, len(eps)), 4)
            for t in range(1, max_turns + 1)]


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b > 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--max-turns", type=int, default=5)
    parser.add_argument("--llm-users", type=int, default=None,
                        help="Users for the convrec-with-LLM timing (default 10, or 0 with --keep-llm; 0 = skip).")
    parser.add_argument("--zero-shot-users", type=int, default=None,
                        help="Users for the LLM zero-shot baseline (default: all; 0 = skip).")
    parser.add_argument("--suites-llm", action="store_true", help="Also replay the suites with the LLM.")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep-llm", action="store_true",
                        help="Re-run only the rules-only parts (and convrec with the LLM if --llm-users is given); "
                             "keep the other LLM sections of the existing eval.json (zero-shot, convrec with the "
                             "LLM, suites with the LLM) and redo their same-user comparisons against the new run.")
    parser.add_argument("--note", default="", help="A line stored with the figures (e.g. which branches were merged).")
    args = parser.parse_args()

    offline_environment()
    settings = load_settings()
    started = date.today().isoformat()
    figures: dict[str, Any] = {"machine": machine(), "date": started, "commit": commit()}
    if args.note:
        figures["note"] = args.note
    report_dir = RESULTS / "eval"

    old: dict[str, Any] = {}
    if args.keep_llm:
        old = json.loads((RESULTS / "eval.json").read_text(encoding="utf-8"))
        args.zero_shot_users, args.suites_llm = 0, False
    if args.llm_users is None:
        args.llm_users = 0 if args.keep_llm else 10
    zs_users = args.users if args.zero_shot_users is None else min(args.zero_shot_users, args.users)
    llm = None
    if zs_users > 0 or args.llm_users > 0 or args.suites_llm:
        from convrec.agent.llm import make_backend

        t0 = time.perf_counter()
        llm = make_backend(settings)
        figures["llm_load_s"] = round(time.perf_counter() - t0, 2)
        figures["llm"] = getattr(llm, "name", str(llm))

    def save() -> None:
        """Write what is measured so far (a crash late in a long run keeps the rest)."""
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "eval.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    for key in ("llm", "llm_load_s"):
        if key in old and key not in figures:
            figures[key] = old[key]

    # 1. suites
    log("Replaying the dialogue suites rules-only …")
    figures["suites"] = run_suites(settings, None, report_dir / "suites")
    import shutil

    shutil.copyfile(report_dir / "suites" / "suites.png", RESULTS / "eval-suites.png")
    save()

    # 2. simulator: convrec rules-only and every baseline on the same users and turns
    from convrec.eval.report import SYSTEM_LABELS, simulation_plot, write_simulation_report
    from convrec.eval.simulator import simulate

    log(f"Simulating {args.users} users: {', '.join(SYSTEMS_NO_LLM)} …")
    t0 = time.perf_counter()
    sim = simulate(settings, n_users=args.users, max_turns=args.max_turns, systems=SYSTEMS_NO_LLM, agent_llm=None,
                   seed=args.seed, progress=True, log=log)
    wall = time.perf_counter() - t0
    data = {**sim.to_json(), "transcripts": sim.transcripts()}
    rules_only_s = sim.setup_s + sum(sim.seconds.values())
    if zs_users > 0 and llm is not None:
        log(f"Asking the LLM alone for titles over the first {zs_users} of the same users …")
        zs = simulate(settings, n_users=zs_users, max_turns=args.max_turns, systems=["llm_zero_shot"],
                      zero_shot_llm=llm, seed=args.seed, progress=True, log=log, trained=sim.trained)
        zd = zs.to_json()
        assert [u.user_id for u in zs.users] == [u.user_id for u in sim.users[:zs_users]]  # the same users
        for key in ("hit_at_1_by_turn", "hit_at_5_by_turn", "hit_at_10_by_turn", "mean_turns",
                    "constraint_satisfaction"):
            data[key]["llm_zero_shot"] = zd[key]["llm_zero_shot"]
        data["seconds"]["llm_zero_shot"] = zd["seconds"]["llm_zero_shot"]
        data["llm_zero_shot"] = {**zd["llm_zero_shot"], "users": zs_users,
                                 "convrec_hit_at_10_by_turn_same_users": subset_hits(sim, "convrec", zs_users,
                                                                                     args.max_turns)}
    old_sim = old.get("simulator", {})
    if old_sim.get("llm_zero_shot"):
        n_old = old_sim["llm_zero_shot"]["users"]
        for key in ("hit_at_1_by_turn", "hit_at_5_by_turn", "hit_at_10_by_turn", "mean_turns",
                    "constraint_satisfaction"):
            data[key]["llm_zero_shot"] = old_sim[key]["llm_zero_shot"]
        data["seconds"]["llm_zero_shot"] = old_sim["seconds"].get("llm_zero_shot", 0.0)
        data["llm_zero_shot"] = {**old_sim["llm_zero_shot"], "convrec_hit_at_10_by_turn_same_users": subset_hits(
            sim, "convrec", n_old, args.max_turns), "from_run": {"commit": old.get("commit"), "date": old.get("date")}}
    write_simulation_report(data, report_dir / "simulator")
    simulation_plot(data, RESULTS / "eval-simulator.png")

    hit10 = data["hit_at_10_by_turn"]
    t3 = min(3, args.max_turns) - 1
    simulator: dict[str, Any] = {
        "users": data["users"],
        "max_turns": data["max_turns"],
        "protocol": data["protocol"],
        "hit_at_10_by_turn": hit10,
        "hit_at_5_by_turn": data["hit_at_5_by_turn"],
        "hit_at_1_by_turn": data["hit_at_1_by_turn"],
        "mean_turns": data["mean_turns"],
        "constraint_satisfaction": data["constraint_satisfaction"],
        "hallucinated_titles": data["convrec"]["hallucinated_titles"],
        "convrec_seen_share": data["convrec"]["seen_share"],
        "convrec_turn_s_p50": data["convrec"]["turn_s_p50"],
        "seconds": data["seconds"],
        "setup_s": data["setup_s"],
        "rules_only_run_s": round(rules_only_s, 1),
        "wall_s": round(wall, 1),
        "turn3_ratio_vs_cf_only": ratio(hit10["convrec"][t3], hit10["cf_only"][t3]),
        "turn3_ratio_vs_semantic_only": ratio(hit10["convrec"][t3], hit10["semantic_only"][t3]),
    }
    if "llm_zero_shot" in data:
        simulator["llm_zero_shot"] = data["llm_zero_shot"]
    figures["simulator"] = simulator
    save()

    # 3. convrec with the LLM on a subset of the same users, for its time
    if args.llm_users > 0 and llm is not None:
        n = min(args.llm_users, args.users)
        log(f"Simulating convrec with the LLM over the first {n} users …")
        with_llm = simulate(settings, n_users=n, max_turns=args.max_turns, systems=["convrec"], agent_llm=llm,
                            seed=args.seed, progress=True, log=log, trained=sim.trained)
        d = with_llm.to_json()
        per_user = with_llm.seconds["convrec"] / max(1, d["users"])
        simulator["with_llm"] = {
            "users": d["users"],
            "llm": d["agent_llm"],
            "seconds": round(with_llm.seconds["convrec"], 1),
            "seconds_per_user": round(per_user, 1),
            "projected_s_for_all_users": round(per_user * args.users + sim.setup_s, 0),
            "turn_s_p50": d["convrec"]["turn_s_p50"],
            "turn_s_p95": d["convrec"]["turn_s_p95"],
            "hit_at_10_by_turn": d["hit_at_10_by_turn"]["convrec"],
            "rules_only_hit_at_10_by_turn_same_users": subset_hits(sim, "convrec", n, args.max_turns),
            "hallucinated_titles": d["convrec"]["hallucinated_titles"],
            "hallucinated_examples": d["convrec"]["hallucinated_examples"],
        }
        figures["simulator"] = simulator
        save()
    if old_sim.get("with_llm") and "with_llm" not in simulator:
        kept = old_sim["with_llm"]
        simulator["with_llm"] = {**kept, "rules_only_hit_at_10_by_turn_same_users": subset_hits(
            sim, "convrec", kept["users"], args.max_turns), "from_run": {"commit": old.get("commit"),
                                                                          "date": old.get("date")}}
    if old.get("suites", {}).get("with_llm"):
        figures["suites"]["with_llm"] = {**old["suites"]["with_llm"],
                                         "from_run": {"commit": old.get("commit"), "date": old.get("date")}}
    figures["simulator"] = simulator
    save()

    # 4. the suites again with the LLM parsing and writing the replies (the slowest part, so last)
    if args.suites_llm and llm is not None:
        log("Replaying the dialogue suites with the LLM …")
        figures["suites"]["with_llm"] = run_suites(settings, llm, report_dir / "suites-llm")
        save()

    print(f"suites: {figures['suites']['passed']}/{figures['suites']['dialogues']} dialogues passed, constraint "
          f"satisfaction {figures['suites']['constraint_satisfaction']}, hallucinated titles "
          f"{figures['suites']['hallucinated_titles']}")
    print(f"simulator ({simulator['users']} users), Hit@10 by turn:")
    for name, values in hit10.items():
        print(f"  {SYSTEM_LABELS.get(name, name):28s} " + "  ".join(f"{v:.3f}" for v in values)
              + f"   mean turns {data['mean_turns'][name]:.2f}")
    print(f"turn 3: {simulator['turn3_ratio_vs_cf_only']}x CF-only, {simulator['turn3_ratio_vs_semantic_only']}x "
          f"semantic-only; rules-only run {simulator['rules_only_run_s']:.0f} s")
    print(f"wrote {RESULTS / 'eval.json'}")


if __name__ == "__main__":
    main()
