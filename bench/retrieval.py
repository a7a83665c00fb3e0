"""Retrieval benchmark: embedding throughput, index build time, query latency and recall.

For MovieLens (1.7k items) and the full Book-Crossing catalog (271k items), measured side by side
in one run against an exact numpy brute-force search over the same vectors and filters:

    python bench/retrieval.py [--catalogs movielens bookcrossing] [--queries 200]

Writes bench/results/retrieval.json (and prints a table). The index lives in bench/.cache so a
re-run reuses Book-Crossing's vectors for unchanged items; the JSON says how many were embedded.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
from chromadb.api.shared_system_client import SharedSystemClient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from convrec.config import HnswSettings, Settings, offline_environment  # noqa: E402
from convrec.retrieval import ChromaStore, Index, NumericRange, SearchFilters, build_index, exact_search  # noqa: E402

RESULTS = REPO / "bench" / "results" / "retrieval.json"
PHRASES = [
    "a light-hearted space adventure",
    "something scary for halloween",
    "a romantic comedy",
    "a gritty crime story",
    "an animated film for kids",
    "a classic war movie",
    "a mystery with a twist",
    "cowboys in the wild west",
    "a feel-good musical",
    "history of the second world war",
    "a cookbook for beginners",
    "a thriller about spies",
    "poetry and love",
    "a fantasy epic with dragons",
    "self-help for better sleep",
]


def machine() -> str:
    import os

    import torch

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {'CUDA' if torch.cuda.is_available() else 'CPU only'}"
    )


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def filters_for(name: str, index: Index, rng: random.Random) -> list[SearchFilters]:
    schema = index.catalog.schema
    if name == "movielens":
        return [
            SearchFilters(include_any={"genres": ["Sci-Fi"]}, ranges={"year": NumericRange(low=1990, high=1999)}),
            SearchFilters(exclude={"genres": ["Drama", "War", "Horror"]}),
            SearchFilters(include_all={"genres": ["Comedy", "Romance"]}),
            SearchFilters(ranges={"year": NumericRange(high=1970)}, exclude_ids=[it.id for it in index.catalog.items[:50]]),
        ]
    authors = schema.get("author").values  # type: ignore[union-attr]
    publishers = schema.get("publisher").values  # type: ignore[union-attr]
    return [
        SearchFilters(ranges={"year": NumericRange(low=1990, high=1999)}),
        SearchFilters(ranges={"year": NumericRange(low=2000)}, exclude={"publisher": list(publishers[:3])}),
        SearchFilters(include_any={"author": [authors[rng.randrange(0, 50)]]}),  # a prolific author: selective
        SearchFilters(include_any={"publisher": list(publishers[:5])}, ranges={"year": NumericRange(high=1985)}),
    ]


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, (time.perf_counter() - t0) * 1000


def bench_catalog(
    name: str, settings: Settings, n_queries: int, fresh: bool, ef_values: list[int], reuse: bool = False
) -> dict:
    rng = random.Random(7)
    root = settings.index_dir / name
    if fresh and root.exists():
        shutil.rmtree(root)
    if reuse and (root / "current.json").exists():
        # Reuse the last complete build (its build time comes from its manifest, measured then).
        index = Index.open(settings, name)
        manifest = index.manifest
        build_s = manifest.build_s
        print(f"[{name}] reusing build {index.build_id} ({build_s:.0f}s when built)", flush=True)
    else:
        print(f"[{name}] building …", flush=True)
        t0 = time.perf_counter()
        manifest = build_index(settings, name, progress=True, log=lambda m: print(f"  {m}", flush=True))
        build_s = time.perf_counter() - t0
        index = Index.open(settings, name)
    n = len(index.catalog)

    # Embedding throughput on a sample of real item texts (the build may have reused vectors).
    sample = [index.catalog.items[i].text for i in rng.sample(range(n), min(2000, n))]
    embedder = index.embedder
    embedder.encode(sample[:64])  # warm-up: load weights
    _, ms = timed(embedder.encode, sample)
    embed_items_per_s = len(sample) / (ms / 1000)

    queries = [PHRASES[i % len(PHRASES)] for i in range(min(len(PHRASES), n_queries // 4))]
    queries += [index.catalog.items[rng.randrange(n)].title for _ in range(n_queries - len(queries))]
    qvecs = embedder.encode(queries)
    text_ms = [timed(index.embed, q)[1] for q in queries[:50]]

    filters = [f.normalized(index.catalog.schema) for f in filters_for(name, index, rng)]
    cols = index.columns
    emb = np.ascontiguousarray(index.embeddings, dtype=np.float32)
    collection = index.manifest.collection

    def run(ef: int, chroma_where: bool = False) -> dict:
        # ef_search is read when a collection is loaded: set it, then reopen the database.
        index.store._collection(collection).modify(configuration={"hnsw": {"ef_search": ef}})
        SharedSystemClient.clear_system_cache()
        index.store = ChromaStore.embedded(index.path / "chroma")
        out: dict[str, list[float]] = defaultdict(list)
        for qi, vec in enumerate(qvecs):
            for label, f in (("plain", None), ("filtered", filters[qi % len(filters)])):
                # What convrec serves: Index.search (the filtered-search planner for filters).
                hits, ms = timed(index.search, vec, 50, f)
                ids = [h.item.id for h in hits]
                out[f"{label}_ms"].append(ms)
                if f is not None and chroma_where:  # Chroma's own metadata filtering, for comparison
                    (where_ids, _), ms = timed(index.store.query, collection, vec, 50, f.to_where())
                    out["where_ms"].append(ms)
                mask = None
                t0 = time.perf_counter()
                if f is not None:
                    mask = cols.mask(f)
                rows = exact_search(emb, vec, 50, mask)
                out[f"{label}_bf_ms"].append((time.perf_counter() - t0) * 1000)
                truth = [index.catalog.items[r].id for r in rows]
                for k in (10, 50):
                    want = set(truth[:k])
                    if want:
                        out[f"{label}_recall_{k}"].append(len(want & set(ids[:k])) / len(want))
                        if f is not None and chroma_where:
                            out[f"where_recall_{k}"].append(len(want & set(where_ids[:k])) / len(want))
                # The API's guarantee: k results whenever k matching items exist.
                out[f"{label}_complete"].append(float(len(ids) == min(50, len(truth))))
        return out

    sweep = []
    for ef in ef_values:
        r = run(ef)
        sweep.append(
            {
                "ef_search": ef,
                "recall_at_10": round(float(np.mean(r["plain_recall_10"])), 4),
                "filtered_recall_at_10": round(float(np.mean(r["filtered_recall_10"])), 4),
                "query_ms_p95": pct(r["plain_ms"], 95),
                "filtered_query_ms_p95": pct(r["filtered_ms"], 95),
            }
        )
        print(f"  ef_search={ef}: {sweep[-1]}", flush=True)
    r = run(settings.hnsw.ef_search, chroma_where=True)  # the shipped setting, measured last
    result = {
        "items": n,
        "build_s": round(build_s, 2),
        "build_embedded_items": manifest.embedded_items,
        "embed_items_per_s": round(embed_items_per_s, 1),
        "queries": len(queries),
        "text_query_ms_p50": pct(text_ms, 50),
        "query_ms_p50": pct(r["plain_ms"], 50),
        "query_ms_p95": pct(r["plain_ms"], 95),
        "filtered_query_ms_p50": pct(r["filtered_ms"], 50),
        "filtered_query_ms_p95": pct(r["filtered_ms"], 95),
        "recall_at_10": round(float(np.mean(r["plain_recall_10"])), 4),
        "recall_at_50": round(float(np.mean(r["plain_recall_50"])), 4),
        "filtered_recall_at_10": round(float(np.mean(r["filtered_recall_10"])), 4),
        "filtered_recall_at_50": round(float(np.mean(r["filtered_recall_50"])), 4),
        "filtered_complete_rate": round(float(np.mean(r["filtered_complete"])), 4),
        "bruteforce_query_ms_p50": pct(r["plain_bf_ms"], 50),
        "chroma_where_query_ms_p50": pct(r["where_ms"], 50),
        "chroma_where_query_ms_p95": pct(r["where_ms"], 95),
        "chroma_where_recall_at_10": round(float(np.mean(r["where_recall_10"])), 4),
        "bruteforce_filtered_query_ms_p50": pct(r["filtered_bf_ms"], 50),
        "hnsw": settings.hnsw.model_dump(),
        "ef_search_sweep": sweep,
    }
    result["query_p50_ratio_to_bruteforce"] = round(result["query_ms_p50"] / max(1e-9, result["bruteforce_query_ms_p50"]), 3)
    result["filtered_query_p50_ratio_to_bruteforce"] = round(
        result["filtered_query_ms_p50"] / max(1e-9, result["bruteforce_filtered_query_ms_p50"]), 3
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalogs", nargs="+", default=["movielens", "bookcrossing"])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", type=int, nargs="*", default=[50, 100, 200, 400])
    parser.add_argument("--home", type=Path, default=REPO / "bench" / ".cache" / "home")
    parser.add_argument("--reuse", action="store_true", help="Measure the last complete build of catalogs other than MovieLens instead of rebuilding.")
    args = parser.parse_args()
    offline_environment()
    settings = Settings(home=args.home, hnsw=HnswSettings())
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in args.catalogs:
        results[name] = bench_catalog(
            name, settings, args.queries, fresh=name == "movielens", ef_values=args.ef, reuse=args.reuse and name != "movielens"
        )
        print(json.dumps(results[name], indent=2), flush=True)
    results["machine"] = machine()
    results["date"] = date.today().isoformat()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
