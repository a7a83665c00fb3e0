"""Serving benchmark: turns per second and p50/p95 turn latency under 1, 4 and 16 concurrent
sessions, against a real `convrec serve` process over HTTP — once with the LLM (parsing and
replies) and once with the rules-only parser and template replies, so the LLM's share of the cost
is visible side by side in one run.

    python bench/serve.py                      # both modes, writes bench/results/serve.json
    python bench/serve.py --modes rules --levels 1 4

Each session is one person (an existing MovieLens user, so ranking uses their history) holding a
short conversation (`--turns`, default 2: a request, then a refinement). At level N, N sessions talk
at once (at least `--min-sessions` sessions run per level, N at a time); latency is measured at the
client, from sending a turn to its complete JSON reply. Errors are turns that did not answer 200.
Both modes run the same conversations.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from convrec.config import Settings, offline_environment  # noqa: E402
from ui_helpers import ConvrecServer, linked_home  # noqa: E402

RESULTS = REPO / "bench" / "results" / "serve.json"
CONVERSATIONS = [
    ["a light-hearted sci-fi film from the 90s, nothing violent", "something older", "more like #2"],
    ["a dark thriller from the 70s", "no horror", "something else"],
    ["a romantic comedy, but nothing too old", "more like the first one", "something else"],
    ["something animated for my kids", "from the 90s", "more like #1"],
    ["a war film about friendship", "not too long ago", "something else"],
    ["a crime drama like The Godfather", "from the 80s", "more like #3"],
]
USERS = ["196", "186", "22", "244", "166", "298", "115", "253", "305", "6", "62", "286", "200", "210", "224", "303"]


def machine() -> str:
    import os

    import torch

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {'CUDA' if torch.cuda.is_available() else 'CPU only'}"
    )


def converse(
    server: ConvrecServer, n: int, turns_per_session: int, record: list[tuple[float, bool]], lock: threading.Lock
) -> None:
    """One person's conversation; appends (latency, ok) per turn."""
    status, created = server.post("/sessions", {"user_id": USERS[n % len(USERS)]})
    turns = CONVERSATIONS[n % len(CONVERSATIONS)][:turns_per_session]
    if status != 201:
        with lock:
            record.extend((0.0, False) for _ in turns)
        return
    sid = created["session_id"]
    for text in turns:
        started = time.perf_counter()
        try:
            status, body = server.post(f"/sessions/{sid}/messages", {"text": text}, timeout=600)
            ok = status == 200 and isinstance(body, dict) and bool(body.get("text"))
        except OSError:
            ok = False
        with lock:
            record.append((time.perf_counter() - started, ok))


def run_level(server: ConvrecServer, level: int, sessions: int, first: int, turns: int) -> dict[str, Any]:
    record: list[tuple[float, bool]] = []
    lock = threading.Lock()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=level) as pool:
        list(pool.map(lambda n: converse(server, n, turns, record, lock), range(first, first + sessions)))
    wall = time.perf_counter() - started
    ok = [lat for lat, good in record if good]
    return {
        "turns_per_s": round(len(ok) / wall, 3) if wall > 0 else 0.0,
        "p50_s": round(float(np.percentile(ok, 50)), 3) if ok else None,
        "p95_s": round(float(np.percentile(ok, 95)), 3) if ok else None,
        "errors": sum(1 for _, good in record if not good),
    }


def bench_mode(home: Path, llm: bool, levels: list[int], min_sessions: int, turns: int) -> dict[str, Any]:
    server = ConvrecServer(home, llm=llm, log=home / f"serve-{'llm' if llm else 'rules'}.log")
    server.start(timeout=900)
    try:
        _, health = server.get("/health")
        if bool(health.get("llm")) != llm:
            raise SystemExit(f"the server reports llm={health.get('llm')} for the {'llm' if llm else 'rules'} run")
        warm: list[tuple[float, bool]] = []
        converse(server, 0, turns, warm, threading.Lock())  # load models, fill caches; not measured
        out: dict[str, Any] = {}
        first = 1
        for level in levels:
            sessions = max(level, min_sessions)
            out[str(level)] = run_level(server, level, sessions, first, turns)
            first += sessions
            print(f"  {'llm' if llm else 'rules'} × {level}: {out[str(level)]}", flush=True)
        return out
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=REPO / "bench" / ".cache" / "home")
    parser.add_argument("--modes", nargs="+", choices=["llm", "rules"], default=["rules", "llm"])
    parser.add_argument("--levels", nargs="+", type=int, default=[1, 4, 16])
    parser.add_argument("--min-sessions", type=int, default=2, help="Sessions per level, at least.")
    parser.add_argument("--turns", type=int, default=2, choices=[1, 2, 3], help="Turns per session.")
    args = parser.parse_args()
    offline_environment()

    settings = Settings(home=args.home)
    from convrec.errors import IndexNotBuiltError
    from convrec.retrieval.index import Index, build_index

    try:
        Index.open(settings, "movielens")
    except IndexNotBuiltError:  # not built yet in this home: build it once
        build_index(settings, "movielens", progress=True)

    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    with tempfile.TemporaryDirectory(prefix="convrec-serve-bench-") as tmp:
        for mode in args.modes:
            # A fresh session database per mode, the same index and models.
            home = linked_home(settings.home, Path(tmp) / mode)
            print(f"{mode}: starting a server on {home}", flush=True)
            results[mode] = bench_mode(
                home, llm=mode == "llm", levels=args.levels, min_sessions=args.min_sessions, turns=args.turns
            )
    results["machine"] = machine()
    results["date"] = date.today().isoformat()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
