"""Render the README's benchmark tables from bench/results/*.json.

    python bench/readme_tables.py        # rewrites the blocks between <!-- bench:NAME --> markers

Figures in the README are never typed by hand: each table is regenerated from the JSON the
benchmarks wrote, so the two cannot disagree.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
README = REPO / "README.md"


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def retrieval_table(data: dict) -> str:
    cats = [c for c in ("movielens", "bookcrossing") if c in data]
    rows = [
        ("items", "items"),
        ("index build (s)", "build_s"),
        ("items embedded in that build", "build_embedded_items"),
        ("embedding throughput (items/s)", "embed_items_per_s"),
        ("text query → embedding (ms, p50)", "text_query_ms_p50"),
        ("vector query p50 / p95 (ms), Chroma HNSW", ("query_ms_p50", "query_ms_p95")),
        ("filtered query p50 / p95 (ms), the filter planner", ("filtered_query_ms_p50", "filtered_query_ms_p95")),
        ("exact numpy search p50 (ms)", "bruteforce_query_ms_p50"),
        ("exact numpy search, filtered, p50 (ms)", "bruteforce_filtered_query_ms_p50"),
        ("Chroma ÷ exact, p50", "query_p50_ratio_to_bruteforce"),
        ("Chroma ÷ exact, filtered, p50", "filtered_query_p50_ratio_to_bruteforce"),
        ("recall@10 / @50", ("recall_at_10", "recall_at_50")),
        ("filtered recall@10 / @50", ("filtered_recall_at_10", "filtered_recall_at_50")),
        ("filtered searches returning min(k, matches)", "filtered_complete_rate"),
    ]
    out = ["| | " + " | ".join(cats) + " |", "|---|" + "---|" * len(cats)]
    for label, key in rows:
        cells = []
        for c in cats:
            d = data[c]
            if isinstance(key, tuple):
                cells.append(" / ".join(_fmt(d.get(k)) for k in key))
            else:
                cells.append(_fmt(d.get(key)))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    sweep = data.get("bookcrossing", data.get("movielens", {})).get("ef_search_sweep", [])
    if sweep:
        which = "Book-Crossing" if "bookcrossing" in data else "MovieLens"
        out += ["", f"HNSW `ef_search` sweep on {which} (M=32, ef_construction=200):", ""]
        out += ["| ef_search | recall@10 | filtered recall@10 | p95 (ms) | filtered p95 (ms) |", "|---|---|---|---|---|"]
        for s in sweep:
            out.append(
                f"| {s['ef_search']} | {_fmt(s['recall_at_10'])} | {_fmt(s['filtered_recall_at_10'])} | "
                f"{_fmt(s['query_ms_p95'])} | {_fmt(s['filtered_query_ms_p95'])} |"
            )
    out += ["", f"Machine: {data.get('machine')}; {data.get('date')}. Command: `python bench/retrieval.py`."]
    return "\n".join(out)


def serve_table(data: dict) -> str:
    modes = [m for m in ("rules", "llm") if m in data]
    names = {"rules": "rules-only parser + template replies", "llm": "with the LLM (default settings: it writes the replies)"}
    out = ["| mode | sessions at once | turns/s | p50 (s) | p95 (s) | errors |", "|---|---|---|---|---|---|"]
    for mode in modes:
        for level, row in sorted(data[mode].items(), key=lambda kv: int(kv[0])):
            out.append(
                f"| {names[mode]} | {level} | {_fmt(row.get('turns_per_s'))} | {_fmt(row.get('p50_s'))} | "
                f"{_fmt(row.get('p95_s'))} | {_fmt(row.get('errors'))} |"
            )
    if "rules" in data and "llm" in data:
        shares = []
        for level in sorted(data["llm"], key=int):
            llm, rules = data["llm"][level].get("p50_s"), data.get("rules", {}).get(level, {}).get("p50_s")
            if llm and rules:
                shares.append(f"{level}: {100 * (1 - rules / llm):.1f} %")
        if shares:
            out += ["", "LLM share of the p50 turn (1 − rules ÷ llm), by sessions at once: " + ", ".join(shares) + "."]
    out += ["", f"Machine: {data.get('machine')}; {data.get('date')}. Command: `python bench/serve.py`."]
    return "\n".join(out)


EVAL_LABELS = {
    "convrec": "convrec (full agent, rules-only)",
    "cf_only": "CF only (ALS on the history)",
    "semantic_only": "semantic retrieval only",
    "popularity": "popularity under convrec's filters",
    "llm_zero_shot": "LLM zero-shot (names titles itself)",
}


def eval_table(data: dict) -> str:
    sim = data.get("simulator", {})
    hits = sim.get("hit_at_10_by_turn", {})
    turns = sim.get("max_turns", 0)
    out = [
        f"User simulator, {sim.get('users')} held-out MovieLens users, Hit@10 after each turn "
        "(share of users whose target had been in a top-10 list by then):",
        "",
        "| system | " + " | ".join(f"turn {t}" for t in range(1, turns + 1)) + " | mean turns | constraint satisfaction |",
        "|---|" + "---|" * (turns + 2),
    ]
    for name, values in hits.items():
        sat = sim.get("constraint_satisfaction", {}).get(name)
        out.append(
            f"| {EVAL_LABELS.get(name, name)} | " + " | ".join(_fmt(v) for v in values)
            + f" | {_fmt(sim.get('mean_turns', {}).get(name))} | {_fmt(sat)} |"
        )
    zs = sim.get("llm_zero_shot")
    if zs and zs.get("users") and zs["users"] != sim.get("users"):
        out += ["", f"The LLM zero-shot row covers the first {zs['users']} of those users."]
    out += [
        "",
        f"convrec ÷ CF only at turn 3: {_fmt(sim.get('turn3_ratio_vs_cf_only'))} (target ≥ 2); "
        f"÷ semantic only: {_fmt(sim.get('turn3_ratio_vs_semantic_only'))} (target ≥ 1.5). "
        f"Hallucinated titles: {_fmt(sim.get('hallucinated_titles'))}. "
        f"Rules-only run over all users: {_fmt(sim.get('rules_only_run_s'))} s (target ≤ 900).",
    ]
    llm = sim.get("with_llm")
    if llm:
        out += [
            "",
            f"With the LLM ({llm.get('llm')}) parsing and writing replies: {_fmt(llm.get('seconds_per_user'))} s per "
            f"user over {llm.get('users')} users (turn p50 {_fmt(llm.get('turn_s_p50'))} s), projected "
            f"{_fmt(llm.get('projected_s_for_all_users'))} s for all {sim.get('users')}; Hit@10 by turn on those users "
            + " / ".join(_fmt(v) for v in llm.get("hit_at_10_by_turn", []))
            + " (rules-only on the same users: "
            + " / ".join(_fmt(v) for v in llm.get("rules_only_hit_at_10_by_turn_same_users", [])) + ").",
        ]
    suites = data.get("suites", {})
    if suites:
        out += [
            "",
            "| dialogue suites (eval/) | dialogues | passed | constraint satisfaction | hallucinated titles |",
            "|---|---|---|---|---|",
            f"| rules-only | {_fmt(suites.get('dialogues'))} | {_fmt(suites.get('passed'))} | "
            f"{_fmt(suites.get('constraint_satisfaction'))} | {_fmt(suites.get('hallucinated_titles'))} |",
        ]
        with_llm = suites.get("with_llm")
        if with_llm:
            out.append(
                f"| with the LLM | {_fmt(with_llm.get('dialogues'))} | {_fmt(with_llm.get('passed'))} | "
                f"{_fmt(with_llm.get('constraint_satisfaction'))} | {_fmt(with_llm.get('hallucinated_titles'))} |"
            )
        if suites.get("failed"):
            out += ["", "Failing dialogues (rules-only): " + ", ".join(f"`{f}`" for f in suites["failed"]) + "."]
    out += ["", f"Machine: {data.get('machine')}; {data.get('date')}. Command: `python bench/eval.py`."]
    return "\n".join(out)


def agent_table(data: dict) -> str:
    rules = data.get("rules_only", {})
    out = [
        f"Default model: {data.get('model')}, {data.get('turns')} scripted turns (12 three-turn conversations).",
        "",
        "| | with the LLM | rules only |",
        "|---|---|---|",
        f"| first reply text (s, p50 / p95) | {_fmt(data.get('first_token_s_p50'))} / {_fmt(data.get('first_token_s_p95'))} | "
        f"{_fmt(rules.get('first_token_s_p50'))} / {_fmt(rules.get('first_token_s_p95'))} |",
        f"| whole turn (s, p50 / p95) | {_fmt(data.get('turn_s_p50'))} / {_fmt(data.get('turn_s_p95'))} | "
        f"{_fmt(rules.get('total_s_p50'))} / {_fmt(rules.get('total_s_p95'))} |",
    ]
    stages = data.get("stages", {})
    for stage in ("parse", "retrieve", "rank", "reply"):
        if f"{stage}_s_p50" in stages:
            out.append(
                f"| {stage} (s, p50) | {_fmt(stages.get(f'{stage}_s_p50'))} | {_fmt(rules.get(f'{stage}_s_p50'))} |"
            )
    out += [
        f"| hallucinated titles in replies | {_fmt(data.get('hallucinated_titles'))} | – |",
        f"| titles the guard removed from LLM text | {_fmt(data.get('guard_removed_titles'))} | – |",
    ]
    if "facet_f1" in data:
        out += [
            "",
            f"Understanding, {_fmt(data.get('parse_cases'))} labeled messages: facet F1 {_fmt(data.get('facet_f1'))} as shipped "
            f"(rules alone {_fmt(data.get('facet_f1_rules'))}); the LLM's structured output parsed and matched the schema in "
            f"{_pct(data.get('json_valid_rate'))} of {_fmt(data.get('json_calls'))} calls (p50 {_fmt(data.get('json_call_s_p50'))} s a call).",
        ]
    if data.get("decode_tok_s"):
        out += [
            "",
            f"LLM decode: {_fmt(data.get('decode_tok_s'))} tokens/s against a memory-bandwidth bound of "
            f"{_fmt(data.get('bandwidth_bound_tok_s'))} tokens/s ({_fmt(data.get('bandwidth_gbs'))} GB/s measured): "
            f"{_fmt(data.get('decode_ratio_to_bound'))} of the bound. The reply's first line (what was understood) "
            "is written without the model; the model's first word follows after "
            f"{_fmt(data.get('llm_first_token_s_p50'))} s (p50, reply prompt).",
        ]
    quant = data.get("cpu_quantization")
    if quant:
        out += ["", "CPU weight formats, decode tokens/s (all loaded, round-robin in one run): "
                + ", ".join(f"{k} {_fmt(v)}" for k, v in quant.items()) + "."]
    by_format = data.get("turn_s_by_cpu_format")
    if by_format:
        out += ["", "Whole turns per CPU format, same first dialogues, same run: " + ", ".join(
            f"{k} p50 {_fmt(v.get('turn_s_p50'))} s (reply {_fmt(v.get('reply_s_p50'))} s, {v.get('turns')} turns)"
            for k, v in by_format.items()) + "."]
    gpu = data.get("gpu")
    if gpu:
        out += ["", "| GPU (1.5B model) | first text p50 (s) | turn p50 / p95 (s) | decode tok/s | hallucinated |",
                "|---|---|---|---|---|"]
        for quant_name, row in gpu.items():
            out.append(
                f"| {quant_name} | {_fmt(row.get('first_token_s_p50'))} | {_fmt(row.get('turn_s_p50'))} / "
                f"{_fmt(row.get('turn_s_p95'))} | {_fmt(row.get('decode_tok_s'))} | {_fmt(row.get('hallucinated_titles'))} |"
            )
    out += ["", f"Machine: {data.get('machine')}; {data.get('date')}. Command: `python bench/agent.py`."]
    return "\n".join(out)


def ranking_table(data: dict) -> str:
    # bench/ranking.py writes its own markdown report beside the JSON; its model table is quoted.
    report = (RESULTS / "ranking.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(report) if line.startswith("| model |"))
    table = []
    for line in report[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    t = data.get("targets", {})
    out = [
        "MovieLens 100K, per-user 80/10/10 split with held-out cold items and cut-down cold users, seed 42:",
        "",
        *table,
        "",
        f"Default (`hybrid`) vs the best peer ({t.get('best_peer_recall')}): Recall@10 "
        f"{_fmt(t.get('convrec_recall_vs_best_peer'))}×, NDCG@10 {_fmt(t.get('convrec_ndcg_vs_best_peer'))}×; "
        f"on users with ≤ 5 interactions vs {t.get('best_peer_cold_users')}: "
        f"{_fmt(t.get('default_cold_users_ndcg_vs_best_peer'))}× NDCG@10. Training {_fmt(data.get('train_s'))} s, "
        f"scoring 100 candidates {_fmt(data.get('score_100_ms'))} ms (median).",
        "",
        f"Machine: {data.get('machine')}; {str(data.get('date'))[:10]}. Command: `python bench/ranking.py`.",
    ]
    return "\n".join(out)


def reasons_table(data: dict) -> str:
    n = data.get("llm_lines") or 0

    def row(label: str, key: str) -> str:
        value = data.get(key) or 0
        return f"| {label} | {value} | {_pct(value / n if n else None)} |"

    out = [
        f"Model: {data.get('model')}; {_fmt(data.get('turns'))} scripted turns of `bench/agent.py`, "
        f"{_fmt(data.get('picks'))} picks, {n} reason lines written by the model.",
        "",
        "| what the guards did with a line the LLM wrote | lines | share |",
        "|---|---|---|",
        row("shown whole", "kept_whole"),
        row("shown in part (a sentence went)", "kept_in_part"),
        row("dropped: a title outside the picks", "dropped_outside_title"),
        row("dropped: a claim the pick's facts do not hold", "dropped_unsupported_claim"),
        row("dropped: too short (a bare genre such as “Drama”), over 220 characters, or echoing the prompt", "dropped_other"),
        "",
        f"Lines with at least one unsupported claim (a number, decade, year or genre that is not the pick's): "
        f"{_fmt(data.get('lines_with_unsupported_claims'))} of {n}; the guard took each such sentence out. Picks shown with the "
        f"LLM's reason: {_fmt(data.get('picks_with_llm_reason'))}; with the template's: "
        f"{_fmt(data.get('picks_with_template_reason'))}.",
    ]
    examples = sorted(data.get("examples_dropped") or [], key=lambda e: -len(e["claims"]))  # the clearest first
    if examples:
        ex = examples[0]
        out += ["", f"For example, for *{ex['pick']}* the model wrote “{ex['written']}” ({', '.join(ex['claims'])} "
                    f"not in its facts)."]
    out += ["", f"Machine: {data.get('machine')}; {data.get('date')}. Command: `python bench/reasons.py`."]
    return "\n".join(out)


def llm_table(data: dict) -> str:
    import llm  # bench/llm.py (this script's folder is on sys.path)

    return llm.markdown(data)


def parsing_table(data: dict) -> str:
    import parsing_table as pt  # bench/parsing_table.py

    return pt.parsing_table(data)


RENDERERS: dict[str, Callable[[dict], str]] = {
    "retrieval": retrieval_table,
    "agent": agent_table,
    "reasons": reasons_table,
    "ranking": ranking_table,
    "llm": llm_table,
    "parsing": parsing_table,
    "serve": serve_table,
    "eval": eval_table,
}


def main() -> int:
    # The README and the per-area guides it links to (docs/*.md).
    for path in [README, *sorted((REPO / "docs").glob("*.md"))]:
        text = path.read_text()
        for name, render in RENDERERS.items():
            data = _load(name)
            if data is None:
                continue
            block = f"<!-- bench:{name} -->\n{render(data)}\n<!-- /bench:{name} -->"
            pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
            if pattern.search(text):
                text = pattern.sub(lambda _: block, text)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
