"""Agent benchmark (Stage 3): parsing quality, structured-output validity, hallucinated titles and
per-turn latency with the real default model, plus the LLM's decode speed against the
memory-bandwidth bound and the CPU weight formats side by side.

    python bench/agent.py [--turns-only] [--skip-quantization] [--models-dir DIR]

Writes bench/results/agent.json. On a CUDA machine it adds a `gpu` section: the same turns with
the 1.5B model in bf16 and in bitsandbytes nf4.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from convrec.config import Settings, offline_environment  # noqa: E402

RESULTS = REPO / "bench" / "results" / "agent.json"

# Scripted conversations for the latency and hallucination figures: single and combined
# constraints, negation, references and refinements, as people type them.
DIALOGUES: list[list[str]] = [
    ["a light-hearted sci-fi film from the 90s, nothing violent", "older", "more like #2"],
    ["something scary for tonight", "not too old, after 1990", "something else"],
    ["a romantic comedy", "actually, make it a drama instead", "from the 80s"],
    ["an animated movie for my kids", "more like #1", "start over. a western"],
    ["movies like Star Wars", "no war movies", "show me 3 more"],
    ["a classic film noir", "something from the 40s", "not that one"],
    ["a thriller with a mystery", "nothing with horror", "newer"],
    ["a musical", "for the whole family", "something else"],
    ["a documentary", "about war", "older"],
    ["a crime movie from the 70s", "like The Godfather", "more like #3"],
    ["a fantasy adventure", "not for kids", "from the 80s"],
    ["what should I watch tonight?", "something funny", "more like #1"],
]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (k - lo), 4)


def machine() -> str:
    import os

    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU only'}; "
        f"load average at start {load:.1f}"
    )


def prepare_index(settings: Settings) -> None:
    from convrec.ranking.train import train
    from convrec.retrieval.index import Index, build_index

    root = settings.index_dir / "movielens"
    if not (root / "current.json").exists():
        build_index(settings, "movielens", progress=False)
    index = Index.open(settings, "movielens")
    if not (index.path / "models" / "hybrid" / "ranker.json").exists():
        train(index, None, log=lambda m: None)


def run_turns(settings: Settings, llm: Any, log, dialogues: list[list[str]] = DIALOGUES) -> dict[str, Any]:
    """Replay the scripted dialogues through the real Agent; per-stage timings and the guard."""
    from convrec.agent.sessions import SessionStore
    from convrec.agent.turn import Agent
    from convrec.eval.dialogues import HallucinationCounter

    store = SessionStore(settings.home / "bench-sessions.sqlite")
    agent = Agent(settings, llm=llm, sessions=store, use_llm_for_parsing=settings.llm.parse_with_llm)
    scene = agent.scene("movielens")
    scene.index.embed("warm up")
    cat = scene.index.catalog
    counter = HallucinationCounter(cat)  # the same independent count the dialogue suites use
    stages: dict[str, list[float]] = {k: [] for k in ("parse", "retrieve", "rank", "first_token", "reply", "total")}
    removed: list[str] = []
    leaked: list[str] = []
    turns = 0
    for dialogue in dialogues:
        sid = agent.new_session()
        said: list[str] = []
        for text in dialogue:
            reply = agent.chat(sid, text)
            said.append(text)
            turns += 1
            for key in stages:
                if key in reply.timings:
                    stages[key].append(reply.timings[key])
            removed += reply.removed_titles
            # Independent check of the final text, line by line: any title-like span outside the
            # picks, the items shown or referred to and those the reasons cite counts.
            allowed = [i.id for i in reply.items] + _referenced(agent, sid, cat) + reply.cited
            leaked += counter.count(reply.text, allowed, "\n".join(said))
            log(f"  turn {turns}: {reply.timings.get('total', 0):.2f}s  {text!r}")
    return {
        "turns": turns,
        **{f"{k}_s_p50": pct(v, 50) for k, v in stages.items()},
        **{f"{k}_s_p95": pct(v, 95) for k, v in stages.items()},
        "guard_removed_titles": removed,
        "hallucinated_titles": len(leaked),
        "hallucinated_examples": leaked[:10],
    }


def _referenced(agent: Any, sid: str, cat: Any) -> list[str]:
    state = agent.sessions.get(sid).state
    ids = [*state.get("similar_to", []), *state.get("liked", [])]
    for message in agent.sessions.messages(sid):
        ids += [i["id"] for i in message.items]
    return [i for i in ids if i in cat]


def parsing_figures(settings: Settings, llm: Any, log, llm_sample: int) -> dict[str, Any]:
    """Facet F1 on the labeled set (rules, and rules + LLM as configured) and JSON validity of the
    LLM's structured output, asked on `llm_sample` cases regardless of the gate."""
    from convrec.agent.parse import PreferenceParser
    from convrec.eval.parsing import evaluate, load_cases
    from convrec.retrieval.index import Index

    cat = Index.open(settings, "movielens").catalog
    cases = load_cases(REPO / "tests" / "data" / "parsing_cases.yaml", cat)
    rules = PreferenceParser.for_catalog(cat, llm=None)
    out: dict[str, Any] = {"parse_cases": len(cases)}
    out["facet_f1_rules"] = round(evaluate(rules.parse, cases, cat)["overall"]["f1"], 4)
    if llm is None:
        out["facet_f1"] = out["facet_f1_rules"]
        return out
    with_llm = PreferenceParser.for_catalog(cat, llm=llm)
    out["facet_f1"] = round(evaluate(with_llm.parse, cases, cat)["overall"]["f1"], 4)
    # Structured output validity: ask the model on a sample of messages, bypassing the gate.
    always = PreferenceParser.for_catalog(cat, llm=llm, gate="always")
    calls = valid = 0
    seconds = []
    for case in cases[:llm_sample]:
        result = always.read(case.text)
        if not result.llm_called:
            continue  # an injection attempt: the model is never shown it
        calls += 1
        valid += result.llm_json is not None and result.llm_error is None
        seconds.append(result.llm_seconds)
        if result.llm_error:
            log(f"  invalid structured output: {result.llm_error}")
    out["json_calls"] = calls
    out["json_valid_rate"] = round(valid / calls, 4) if calls else None
    out["json_call_s_p50"] = pct(seconds, 50)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=REPO / "bench" / ".cache" / "agent-home")
    parser.add_argument("--models-dir", type=Path, default=None, help="Where converted models are cached.")
    parser.add_argument("--skip-quantization", action="store_true")
    parser.add_argument("--turn-formats", nargs="*", default=["fp32", "bf16"],
                        help="CPU formats whose whole turns are timed side by side on the first dialogues.")
    parser.add_argument("--turn-dialogues", type=int, default=3)
    parser.add_argument("--llm-sample", type=int, default=30, help="Cases asked of the LLM for JSON validity.")
    args = parser.parse_args()
    offline_environment()
    settings = Settings(home=args.home)
    if args.models_dir:
        settings.models_dir.parent.mkdir(parents=True, exist_ok=True)
        if not settings.models_dir.exists():
            settings.models_dir.symlink_to(args.models_dir.resolve(), target_is_directory=True)
    log = lambda m: print(m, flush=True)  # noqa: E731
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update({"machine": machine(), "date": date.today().isoformat()})

    log("preparing the MovieLens index and ranker …")
    prepare_index(settings)

    import llm as llm_bench  # bench/llm.py
    from convrec.agent.llm import make_backend

    backend = make_backend(settings)
    results["model"] = backend.name if backend is not None else "none"

    log("parsing figures …")
    results.update(parsing_figures(settings, backend, log, args.llm_sample))

    log("turns with the default model …")
    turns = run_turns(settings, backend, log)
    results.update(
        {
            "turns": turns["turns"],
            "first_token_s_p50": turns["first_token_s_p50"],
            "first_token_s_p95": turns["first_token_s_p95"],
            "turn_s_p50": turns["total_s_p50"],
            "turn_s_p95": turns["total_s_p95"],
            "stages": {k: v for k, v in turns.items() if k.endswith(("_p50", "_p95"))},
            "hallucinated_titles": turns["hallucinated_titles"],
            "hallucinated_examples": turns["hallucinated_examples"],
            "guard_removed_titles": len(turns["guard_removed_titles"]),
        }
    )
    log("rules-only turns (no LLM) for comparison …")
    rules_turns = run_turns(settings, None, log)
    results["rules_only"] = {k: v for k, v in rules_turns.items() if k.endswith(("_p50", "_p95")) or k == "turns"}

    log("decode speed against the bandwidth bound …")
    gbs = llm_bench.memory_bandwidth_gbs()
    decode = llm_bench.decode_and_first_token(backend, gbs)
    results["decode_tok_s"] = round(decode["decode_tok_s"], 3)
    results["bandwidth_gbs"] = round(gbs, 3)
    results["bandwidth_bound_tok_s"] = round(decode["bandwidth_bound_tok_s"], 3)
    results["decode_ratio_to_bound"] = round(decode["ratio_to_bound"], 4)
    # The reply's opening line is written without the model; this is when its first word arrives.
    results["llm_first_token_s_p50"] = round(decode["first_token_s_p50"], 3)
    del backend

    if not args.skip_quantization:
        log("CPU weight formats side by side …")
        table = llm_bench.cpu_quantization(settings.models_dir, bandwidth_gbs=gbs, log=log)
        results["cpu_quantization"] = {k: round(v["decode_tok_s"], 3) for k, v in table.items()}
        results["cpu_quantization_detail"] = {
            k: {kk: (round(vv, 4) if isinstance(vv, float) else vv) for kk, vv in v.items() if kk != "text"}
            for k, v in table.items()
        }

    import torch

    if args.turn_formats and not torch.cuda.is_available():
        # Decode speed alone is not the whole turn: the reply prompt's prefill and prompt-lookup
        # verification are compute-bound, so the formats are also timed on real turns.
        log("whole turns per CPU format …")
        by_format: dict[str, Any] = {}
        for quant in args.turn_formats:
            qs = settings.model_copy(update={"llm": settings.llm.model_copy(update={"quantization": quant})})
            t = run_turns(qs, make_backend(qs), log, DIALOGUES[: args.turn_dialogues])
            by_format[quant] = {"turns": t["turns"], "turn_s_p50": t["total_s_p50"], "turn_s_p95": t["total_s_p95"],
                                "reply_s_p50": t["reply_s_p50"]}
        results["turn_s_by_cpu_format"] = by_format

    if torch.cuda.is_available():
        log("GPU: 1.5B model, bf16 and nf4 …")
        gpu: dict[str, Any] = {}
        for quant in ("bf16", "nf4"):
            gs = settings.model_copy(
                update={"llm": settings.llm.model_copy(update={"model": "qwen2.5-coder-1.5b", "quantization": quant})}
            )
            gpu_backend = make_backend(gs)
            t = run_turns(gs, gpu_backend, log)
            gpu[quant] = {
                "turns": t["turns"],
                "first_token_s_p50": t["first_token_s_p50"],
                "turn_s_p50": t["total_s_p50"],
                "turn_s_p95": t["total_s_p95"],
                "decode_tok_s": round(llm_bench.decode_and_first_token(gpu_backend, gbs)["decode_tok_s"], 3),
                "hallucinated_titles": t["hallucinated_titles"],
            }
            del gpu_backend
        results["gpu"] = gpu

    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
