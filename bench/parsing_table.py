"""Render the parsing benchmark's table from bench/results/parsing.json (never typed by hand).

    python bench/parsing_table.py            # prints the markdown table
    python bench/parsing_table.py --doc      # also rewrites the block in docs/parsing.md

`parsing_table(data)` is importable (e.g. by bench/readme_tables.py).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "parsing.json"
DOC = REPO / "docs" / "parsing.md"
START, END = "<!-- bench:parsing -->", "<!-- /bench:parsing -->"

ASKS = {
    "facets-abstain": "genre enum, examples answer \"none\"",
    "facets-mixed": "genre enum, examples name a genre",
    "english": "reword in English, rules re-read",
}
POLICIES = {"fill": "fills empty facets", "add": "adds non-conflicting values", "llm": "replaces the rules' genres"}
GATES = {"leftover": "words left over", "always": "every message"}


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


SET_NAMES = {"main": "main set (tuned on)", "heldout": "held-out", "heldout2": "held-out 2 (never tuned on)"}


def parsing_table(data: dict) -> str:
    sets = list(data["parse_cases"])
    head = " | ".join(f"{SET_NAMES.get(s, s)}: P / R / **F1**" for s in sets)
    rows = [f"| reading | model asked on | {head} |", "|---|---|" + "---|" * len(sets)]

    def cells(entry: dict) -> str:
        out = []
        for name in sets:
            part = entry.get(name)
            if not part:
                out.append("–")
                continue
            o = part["overall"]
            tail = f" ({part['cases']} cases)" if part.get("rules_same_cases") else ""
            out.append(f"{_f(o['precision'])} / {_f(o['recall'])} / **{_f(o['f1'])}**{tail}")
        return " | ".join(out)

    def same_sample(entry: dict) -> str:
        out = []
        for name in sets:
            o = (entry.get(name) or {}).get("rules_same_cases")
            out.append(f"{_f(o['precision'])} / {_f(o['recall'])} / **{_f(o['f1'])}**" if o else "–")
        return " | ".join(out)

    rows.append(f"| rules alone | – | {cells(data['rules'])} |")
    sampled_done: set[str] = set()
    for label, entry in (data.get("llm") or {}).items():
        ask, policy, gate = label.split("/")
        share = entry["main"].get("llm_call_share")
        asked = f"{GATES.get(gate, gate)} ({share:.0%})" if share is not None else GATES.get(gate, gate)
        name = f"rules + LLM: {ASKS.get(ask, ask)}; {POLICIES.get(policy, policy)}"
        if label == data.get("default"):
            name = f"**{name} (default)**"
        rows.append(f"| {name} | {asked} | {cells(entry)} |")
        if entry["main"].get("rules_same_cases") and gate not in sampled_done:
            sampled_done.add(gate)
            rows.append(f"| rules alone on that sample | – | {same_sample(entry)} |")
    lines = ["\n".join(rows), ""]
    cases = " + ".join(str(data["parse_cases"][s]) for s in sets)
    units = " + ".join(str(data["units"][s]) for s in sets)
    facts = [f"{cases} cases ({units} expected units)",
             f"rules parse in {data['rules']['main']['parse_ms_p50']:.2f} ms (p50)"]
    if data.get("model"):
        facts.append(f"model {data['model']}: {data['llm_calls']} calls, JSON valid "
                     f"{data['json_valid_rate']:.0%}, {data['llm_s_p50']:.1f} s per call p50, "
                     f"{data['llm_s_p95']:.1f} s p95 ({data.get('llm_seconds_note', '')})")
    facts.append(f"{data['machine']}, {data['date']}")
    lines.append("; ".join(facts) + ".")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--doc", action="store_true")
    args = ap.parse_args()
    table = parsing_table(json.loads(RESULTS.read_text()))
    print(table)
    if args.doc:
        text = DOC.read_text()
        block = f"{START}\n{table}\n{END}"
        if START in text:
            text = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
        else:
            text = text.replace("PARSING_TABLE", block)
        DOC.write_text(text)


if __name__ == "__main__":
    main()
