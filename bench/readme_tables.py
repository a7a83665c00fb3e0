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


def retrieval_table(data: dict) -> str:
    cats = [c for c in ("movielens", "bookcrossing") if c in data]
    rows = [
        ("items", "items"),
        ("index build (s)", "build_s"),
        ("items embedded in that build", "build_embedded_items"),
        ("embedding throughput (items/s)", "embed_items_per_s"),
        ("text query → embedding (ms, p50)", "text_query_ms_p50"),
        ("vector query p50 / p95 (ms)", ("query_ms_p50", "query_ms_p95")),
        ("filtered query p50 / p95 (ms)", ("filtered_query_ms_p50", "filtered_query_ms_p95")),
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
    names = {"rules": "rules-only parser + template replies", "llm": "LLM parsing + LLM replies"}
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


RENDERERS: dict[str, Callable[[dict], str]] = {"retrieval": retrieval_table, "serve": serve_table}


def main() -> int:
    text = README.read_text()
    for name, render in RENDERERS.items():
        data = _load(name)
        if data is None:
            continue
        block = f"<!-- bench:{name} -->\n{render(data)}\n<!-- /bench:{name} -->"
        pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _: block, text)
    README.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
