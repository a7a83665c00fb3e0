"""Reports for dialogue suites and the user simulator: markdown, JSON and PNG plots in one folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from convrec.eval.dialogues import SuiteResults

SYSTEM_LABELS = {
    "convrec": "convrec (full)",
    "cf_only": "CF only",
    "semantic_only": "semantic retrieval only",
    "popularity": "popularity (same filters)",
    "llm_zero_shot": "LLM zero-shot",
}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md(text: str) -> str:
    """Text safe inside a markdown table cell or list line (no pipes, no raw HTML)."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


# --- dialogue suites -----------------------------------------------------------------------------


def suite_json(results: SuiteResults) -> dict[str, Any]:
    """The whole run as plain data: the summary, then every dialogue, turn and check."""
    return {
        "summary": results.summary(),
        "suites": results.suites,
        "dialogues": [
            {
                "suite": d.suite,
                "id": d.id,
                "description": d.description,
                "tags": d.tags,
                "passed": d.passed,
                "error": d.error,
                "turns": [
                    {
                        "turn": t.number,
                        "message": _short(t.message, 300),
                        "message_chars": len(t.message),
                        "reply": t.reply_text,
                        "items": t.items,
                        "understood": t.understood,
                        "relaxed": t.relaxed,
                        "hallucinated": t.hallucinated,
                        "seconds": round(t.seconds, 4),
                        "checks": [{"kind": c.kind, "passed": c.passed, "detail": c.detail} for c in t.checks],
                    }
                    for t in d.turns
                ],
            }
            for d in results.dialogues
        ],
    }


def suite_markdown(results: SuiteResults, plot: str | None = "suites.png") -> str:
    s = results.summary()
    lines = [
        "# convrec dialogue evaluation",
        "",
        f"{s['passed']} of {s['dialogues']} dialogues passed ({s['checks_passed']} of {s['checks']} checks, "
        f"{s['turns']} turns) · LLM: {s['llm']} · {s['seconds']:.0f} s",
        "",
        f"- constraint satisfaction: **{_pct(s['constraint_satisfaction'])}** of {s['constraint_checks']:,} "
        "item × facet-rule checks",
        f"- hallucinated titles: **{s['hallucinated_titles']}**",
        f"- dialogues stopped by an error: {s['errors']}",
        "",
        "| suite | dialogues | passed |",
        "|---|---:|---:|",
    ]
    for name, row in s["by_suite"].items():
        lines.append(f"| {_md(name)} | {row['dialogues']} | {row['passed']} |")
    lines += ["", "| tag | dialogues | passed |", "|---|---:|---:|"]
    for name, row in s["by_tag"].items():
        lines.append(f"| {_md(name)} | {row['dialogues']} | {row['passed']} |")
    lines += ["", "| check | checks | passed |", "|---|---:|---:|"]
    for name, row in sorted(s["by_kind"].items()):
        lines.append(f"| {name} | {row['checks']} | {row['passed']} |")
    if plot:
        lines += ["", f"![pass rates]({plot})"]
    failed = [d for d in results.dialogues if not d.passed]
    lines += ["", f"## Failures ({len(failed)})" if failed else "## Failures: none"]
    for d in failed:
        lines += ["", f"### {_md(d.suite)} / {_md(d.id)}", ""]
        if d.description:
            lines += [_md(d.description), ""]
        if d.error:
            lines.append(f"- error: {_md(d.error)}")
        for t in d.turns:
            bad = [c for c in t.checks if not c.passed]
            if not bad:
                continue
            lines.append(f"- turn {t.number}: “{_md(_short(t.message, 100))}”")
            for c in bad:
                lines.append(f"  - **{c.kind}**: {_md(_short(c.detail, 300))}")
            shown = ", ".join(i["title"] for i in t.items[:5]) or "no items"
            lines.append(f"  - shown: {_md(_short(shown, 200))}; understood: {_md(', '.join(t.understood) or 'nothing')}")
    return "\n".join(lines) + "\n"


def suite_plot(results: SuiteResults, path: Path) -> Path:
    """Pass rate by tag and by kind of check, side by side."""
    plt = _plt()
    s = results.summary()
    tags = list(s["by_tag"].items())
    kinds = sorted(s["by_kind"].items())
    fig, axes = plt.subplots(1, 2, figsize=(12, max(3.0, 0.32 * max(len(tags), len(kinds)) + 1.2)))
    for ax, rows, title, total_key in (
        (axes[0], tags, "dialogues passed, by tag", "dialogues"),
        (axes[1], kinds, "checks passed, by kind", "checks"),
    ):
        names = [n for n, _ in rows]
        rates = [r["passed"] / r[total_key] if r[total_key] else 0.0 for _, r in rows]
        colors = ["#2a9d8f" if v >= 1.0 else "#e76f51" for v in rates]
        ax.barh(names, rates, color=colors)
        for i, (_, r) in enumerate(rows):
            ax.text(min(rates[i], 1.0) + 0.01, i, f"{r['passed']}/{r[total_key]}", va="center", fontsize=8)
        ax.set_xlim(0, 1.15)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle(f"convrec dialogue suites: {s['passed']}/{s['dialogues']} dialogues passed (LLM: {s['llm']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_suite_report(results: SuiteResults, out: Path) -> dict[str, Path]:
    """Write report.md, report.json and suites.png into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"plot": suite_plot(results, out / "suites.png")}
    paths["json"] = out / "report.json"
    paths["json"].write_text(json.dumps(suite_json(results), indent=2, ensure_ascii=False), encoding="utf-8")
    paths["markdown"] = out / "report.md"
    paths["markdown"].write_text(suite_markdown(results, paths["plot"].name), encoding="utf-8")
    return paths


# --- the simulator -------------------------------------------------------------------------------


def simulation_markdown(data: dict[str, Any], plot: str | None = "simulator.png") -> str:
    """The simulator's tables from its JSON (`SimulationResult.to_json()` plus transcripts)."""
    systems = list(data["hit_at_10_by_turn"])
    turns = data["max_turns"]
    lines = [
        "# convrec user simulator",
        "",
        f"Protocol: {data['protocol']}.",
        "",
        f"Agent LLM: {data.get('agent_llm', 'none')}.",
        "",
        "Hit@10 after each turn (share of users whose target was in a top-10 list by then):",
        "",
        "| system | " + " | ".join(f"turn {t}" for t in range(1, turns + 1)) + " | mean turns | constraint satisfaction | seconds |",
        "|---|" + "---:|" * (turns + 3),
    ]
    for s in systems:
        hits = " | ".join(f"{v:.3f}" for v in data["hit_at_10_by_turn"][s])
        sat = _pct(data["constraint_satisfaction"].get(s))
        secs = data["seconds"].get(s, 0.0)
        lines.append(f"| {SYSTEM_LABELS.get(s, s)} | {hits} | {data['mean_turns'][s]:.2f} | {sat} | {secs:.0f} |")
    for k in (1, 5):
        key = f"hit_at_{k}_by_turn"
        lines += ["", f"Hit@{k} after each turn:", "", "| system | " + " | ".join(f"turn {t}" for t in range(1, turns + 1)) + " |",
                  "|---|" + "---:|" * turns]
        for s in systems:
            lines.append(f"| {SYSTEM_LABELS.get(s, s)} | " + " | ".join(f"{v:.3f}" for v in data[key][s]) + " |")
    conv = data.get("convrec")
    if conv:
        lines += [
            "",
            f"convrec: {conv['turns']} turns, p50 {conv['turn_s_p50']:.2f} s, p95 {conv['turn_s_p95']:.2f} s per turn; "
            f"{conv['items_per_turn']} items per turn; hallucinated titles: **{conv['hallucinated_titles']}**; "
            f"share of shown items the user had already seen: {_pct(conv['seen_share'])}.",
        ]
    zs = data.get("llm_zero_shot")
    if zs:
        lines += [
            "",
            f"LLM zero-shot ({zs['model']}): {zs['titles_named']} distinct titles named per answer in all "
            f"({zs.get('titles_repeated', 0)} more were repeats within an answer), {zs['not_in_catalog']} not found "
            f"in the catalog; median {zs['call_s_p50']} s per answer.",
        ]
        if zs.get("not_in_catalog_examples"):
            lines.append("Examples not in the catalog: " + "; ".join(_md(t) for t in zs["not_in_catalog_examples"][:6]) + ".")
    lines += ["", f"Set-up (index, split, ranker training): {data['setup_s']:.0f} s."]
    if plot:
        lines += ["", f"![Hit@10 by turn]({plot})"]
    if data.get("transcripts"):
        lines += ["", "## Example scripts", ""]
        for tr in data["transcripts"][:3]:
            lines.append(f"- user {tr['user']}, target {_md(tr.get('target_title', tr['target']))}:")
            for n, m in enumerate(tr["messages"], 1):
                lines.append(f"  {n}. “{_md(m)}”")
    for note in data.get("notes", []):
        lines += ["", f"Note: {note}"]
    return "\n".join(lines) + "\n"


def simulation_plot(data: dict[str, Any], path: Path) -> Path:
    """Hit@1, @5 and @10 by turn, one line per system."""
    plt = _plt()
    turns = list(range(1, data["max_turns"] + 1))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for ax, k in zip(axes, (1, 5, 10)):
        for s, values in data[f"hit_at_{k}_by_turn"].items():
            style = {"linewidth": 2.5} if s == "convrec" else {"linewidth": 1.4, "linestyle": "--"}
            ax.plot(turns, values, marker="o", label=SYSTEM_LABELS.get(s, s), **style)
        ax.set_title(f"Hit@{k} by turn")
        ax.set_xlabel("turn")
        ax.set_xticks(turns)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("share of users served")
    axes[-1].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"User simulator, {data['users']} MovieLens test users")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_simulation_report(data: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write simulator.md, simulator.json and simulator.png into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"plot": simulation_plot(data, out / "simulator.png")}
    paths["json"] = out / "simulator.json"
    paths["json"].write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    paths["markdown"] = out / "simulator.md"
    paths["markdown"].write_text(simulation_markdown(data, paths["plot"].name), encoding="utf-8")
    return paths
