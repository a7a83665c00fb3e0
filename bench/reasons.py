"""How grounded are the LLM's reasons? What the real default model writes for each pick, and what
the reply guards let through.

    python bench/reasons.py [--home DIR] [--dialogues N]

Replays the scripted dialogues of bench/agent.py through the real Agent with the configured LLM
(the default local model), and records every reason line the model writes, from outside, around
`ReplyWriter.clean_reason` (the agent's code is unchanged). Each line is classed by what the
guards did with it:

- kept whole;
- kept in part (a sentence with an outside title or an unsupported claim went);
- dropped for an outside title (`TitleGuard`), or for a claim the pick's facts do not hold
  (`FactGuard`: a number, a decade or a facet value that is not the pick's, or a year in a
  sentence about another title), or for being empty, too long or an echo of the prompt;
- picks the model wrote no usable line for get their template reason.

Writes bench/results/reasons.json with the counts and the dropped claims as examples.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from convrec.config import Settings, offline_environment  # noqa: E402

RESULTS = REPO / "bench" / "results" / "reasons.json"


def run(settings: Settings, dialogues: list[list[str]], log: Any) -> dict[str, Any]:
    from convrec.agent import respond
    from convrec.agent.llm import make_backend
    from convrec.agent.sessions import SessionStore
    from convrec.agent.turn import Agent

    lines: list[dict[str, Any]] = []
    original = respond.ReplyWriter.clean_reason

    def recording(self: Any, text: str, allowed: Any, report: Any, item: Any = None, facts: str = "") -> str:
        titles, claims = len(report.removed_titles), len(report.removed_claims)
        kept = original(self, text, allowed, report, item, facts)
        lines.append({
            "pick": getattr(item, "title", ""), "written": text.strip(), "shown": kept,
            "titles": report.removed_titles[titles:], "claims": report.removed_claims[claims:],
        })
        return kept

    respond.ReplyWriter.clean_reason = recording  # type: ignore[method-assign]
    try:
        backend = make_backend(settings)
        if backend is None:
            raise SystemExit("No LLM is configured; this benchmark measures the LLM's reasons.")
        agent = Agent(settings, llm=backend, sessions=SessionStore(settings.home / "reasons-bench.sqlite"))
        picks = turns = 0
        for dialogue in dialogues:
            sid = agent.new_session()
            for text in dialogue:
                reply = agent.chat(sid, text)
                turns += 1
                picks += len(reply.items)
                log(f"  turn {turns}: {len(reply.items)} picks, {len(lines)} LLM lines so far  {text!r}")
    finally:
        respond.ReplyWriter.clean_reason = original  # type: ignore[method-assign]

    def share(n: int) -> float:
        return round(n / len(lines), 4) if lines else 0.0

    whole = [ln for ln in lines if ln["shown"] and not ln["titles"] and not ln["claims"]]
    part = [ln for ln in lines if ln["shown"] and (ln["titles"] or ln["claims"])]
    dropped_title = [ln for ln in lines if not ln["shown"] and ln["titles"]]
    dropped_claim = [ln for ln in lines if not ln["shown"] and ln["claims"] and not ln["titles"]]
    with_claims = [ln for ln in lines if ln["claims"]]
    return {
        "model": backend.name,
        "turns": turns,
        "picks": picks,
        "llm_lines": len(lines),
        "kept_whole": len(whole),
        "kept_in_part": len(part),
        "dropped_outside_title": len(dropped_title),
        "dropped_unsupported_claim": len(dropped_claim),
        "dropped_other": len(lines) - len(whole) - len(part) - len(dropped_title) - len(dropped_claim),
        "lines_with_unsupported_claims": len(with_claims),
        "unsupported_claim_rate": share(len(with_claims)),
        "picks_with_llm_reason": len(whole) + len(part),
        "picks_with_template_reason": picks - len(whole) - len(part),
        "examples_dropped": [
            {"pick": ln["pick"], "written": ln["written"][:200], "claims": ln["claims"]} for ln in with_claims[:12]
        ],
        "examples_kept": [{"pick": ln["pick"], "shown": ln["shown"][:200]} for ln in whole[:6]],
        "examples_dropped_other": [
            {"pick": ln["pick"], "written": ln["written"][:240]}
            for ln in lines if not ln["shown"] and not ln["titles"] and not ln["claims"]
        ][:8],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=REPO / "bench" / ".cache" / "agent-home")
    parser.add_argument("--dialogues", type=int, default=None, help="Only the first N scripted dialogues.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    offline_environment()
    from agent import DIALOGUES, prepare_index  # bench/agent.py

    from convrec.eval.offline import machine

    settings = Settings(home=args.home)
    log = lambda m: print(m, flush=True)  # noqa: E731
    log("preparing the MovieLens index and ranker …")
    prepare_index(settings)
    started = time.perf_counter()
    out = run(settings, DIALOGUES[: args.dialogues], log)
    out.update({"machine": machine(), "date": date.today().isoformat(), "bench_s": round(time.perf_counter() - started, 1)})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(args.out)
    print(json.dumps({k: v for k, v in out.items() if not k.startswith("examples")}, indent=2))


if __name__ == "__main__":
    main()
