"""Render the parsing benchmark's table from bench/results/parsing.json (never typed by hand).

    python bench/parsing_table.py            # prints the markdown table
    python bench/parsing_table.py --doc      # also rewrites the block in docs/readme-parsing.md

`parsing_table(data)` is importable (e.g. by bench/readme_tables.py).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "parsing.json"
DOC = REPO / "docs" / "readme-parsing.md"
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


def parsing_table(data: dict) -> str:
    rows = ["| reading | model asked on | main set P / R / **F1** | held-out P / R / **F1** |", "|---|---|---|---|"]

    def cells(entry: dict, name: str) -> str:
        part = entry.get(name)
        if not part:
            return "–"
        o = part["overall"]
        tail = f" ({part['cases']} cases)" if part.get("rules_same_cases") else ""
        return f"{_f(o['precision'])} / {_f(o['recall'])} / **{_f(o['f1'])}**{tail}"

    rules = data["rules"]
    rows.append(f"| rules alone | – | {cells(rules, 'main')} | {cells(rules, 'heldout')} |")
    for label, entry in (data.get("llm") or {}).items():
        ask, policy, gate = label.split("/")
        share = entry["main"].get("llm_call_share")
        asked = f"{GATES.get(gate, gate)} ({share:.0%})" if share is not None else GATES.get(gate, gate)
        name = f"rules + LLM: {ASKS.get(ask, ask)}; {POLICIES.get(policy, policy)}"
        if label == data.get("default"):
            name += " — default"
        rows.append(f"| {name} | {asked} | {cells(entry, 'main')} | {cells(entry, 'heldout')} |")
        if entry["main"].get("rules_same_cases"):
            o = entry["main"]["rules_same_cases"]
            rows.append(f"| rules alone, same sample | – | {_f(o['precision'])} / {_f(o['recall'])} / **{_f(o['f1'])}** | |")
    lines = ["\n".join(rows), ""]
    facts = [f"{data['parse_cases']['main']} + {data['parse_cases']['heldout']} cases "
             f"({data['units']['main']} + {data['units']['heldout']} expected units)",
             f"rules parse in {data['rules']['main']['parse_ms_p50']:.2f} ms (p50)"]
    if data.get("model"):
        facts.append(f"model {data['model']}: {data['llm_calls']} calls, JSON valid "
                     f"{data['json_valid_rate']:.0%}, {data['llm_s_p50']:.1f} s per call p50 "
                     f"({data.get('llm_seconds_note', '')})")
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
