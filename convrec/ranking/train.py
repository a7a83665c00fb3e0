"""Training rankers for an index (`convrec train`) and loading them back (`load_ranker`).

A *model name* picks which score parts a ranker combines (see `MODELS`). Training:

1. hold out a validation split of the index's interactions (per user 90/10, 5% of items held out
   entirely as cold items, 20% of users cut to ≤ 5 interactions — see `convrec.eval.split`);
2. choose hyperparameters on it (ALS: coordinate search; regularized MF: text weight and cold
   scale) and fit every part on the rest;
3. fit the hybrid's weights (per history-length bucket), its offset for items without
   interactions, and its semantic weight (simulated requests) on the validation part;
4. refit the parts on all interactions with the chosen hyperparameters, keep the fitted weights,
   and save everything under `index.path / "models" / NAME`, atomically.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from convrec.errors import ConvrecError
from convrec.eval.split import Split, make_split
from convrec.ranking.base import Log, RankingData, ScorePart, _quiet
from convrec.ranking.data import InteractionMatrix
from convrec.ranking.fitting import (
    Validation,
    fit_semantic_weight,
    fit_weights,
    request_text,
    tune_als,
    tune_itemknn,
    tune_regmf,
)
from convrec.ranking.hybrid import RANKER_KINDS, HybridRanker, RankerInfo, Weights
from convrec.ranking.mf import ALSPart
from convrec.ranking.paradigms.kg import KnowledgeGraphPart, has_knowledge_graph
from convrec.ranking.paradigms.profile import EmbeddingProfilePart
from convrec.ranking.paradigms.regmf import TextRegularizedMFPart
from convrec.ranking.itemknn import ItemKNNPart
from convrec.ranking.popularity import PopularityPart
from convrec.ranking.store import check_name, models_dir, save_atomic


@dataclass(frozen=True)
class ModelSpec:
    """A named ranker: which parts it combines and how."""

    parts: tuple[str, ...]
    description: str
    kind: str = "hybrid"  # "hybrid" (linear) or "fusion" (small neural scorer)
    optional: tuple[str, ...] = ()  # parts dropped when the catalog lacks them (e.g. no knowledge graph)
    # parts kept for their evidence (reasons) at weight 0: their score did not earn a place (see
    # docs/ranking.md, "What the paradigms showed")
    evidence_only: tuple[str, ...] = ()


MODELS: dict[str, ModelSpec] = {
    "hybrid": ModelSpec(
        ("als", "itemknn", "popularity", "profile", "kg"),
        "Linear hybrid: ALS + BM25 item-kNN (CF), popularity, embedding profile (+ semantic); "
        "the knowledge graph gives reasons.",
        optional=("kg",),
        evidence_only=("kg",),
    ),
    "hybrid-regmf": ModelSpec(
        ("regmf", "itemknn", "popularity", "profile", "kg"),
        "The linear hybrid with the text-regularized MF as its factor model (cold items get factors from text) "
        "and the knowledge graph as a scored part.",
        optional=("kg",),
    ),
    "fusion": ModelSpec(
        ("als", "itemknn", "popularity", "profile"),
        "The hybrid's parts combined by a small neural network over [user emb, item emb, part scores] (paradigm 3).",
        kind="fusion",
    ),
    "als": ModelSpec(("als",), "Implicit-feedback ALS (implicit library, tuned) alone (+ semantic)."),
    "itemknn": ModelSpec(("itemknn",), "BM25 item-to-item neighbours (implicit library) alone."),
    "regmf": ModelSpec(("regmf",), "LLM-embedding-regularized MF alone (paradigm 2)."),
    "profile": ModelSpec(("profile",), "Embedding-profile similarity alone (paradigm 1)."),
    "kg": ModelSpec(("kg",), "Knowledge-graph shared entities alone (paradigm 4)."),
    "content": ModelSpec(("profile", "popularity"), "Embedding profile + popularity: no CF model needed."),
    "popularity": ModelSpec(("popularity",), "Popularity prior alone."),
}

#: The ranker `convrec train` trains and `load_ranker` serves when no name is given. Chosen by
#: the offline comparison in bench/ranking.py (see docs/ranking.md).
DEFAULT_MODEL = "hybrid"

#: Weights of the untrained fallback (content + popularity), used until `convrec train` has run:
#: the "content" model's weights fitted in bench/results/ranking.json (long-history bucket).
UNTRAINED_WEIGHTS = {"profile": 0.25, "popularity": 1.0}
UNTRAINED_SEMANTIC = 0.5


@dataclass
class TrainOptions:
    """How to train: engine, tuning, and the cold-item trade-off."""

    engine: str = "implicit"
    spark_master: str | None = None
    tune: bool = True
    quick: bool = False  # smaller grids (tests, CI)
    cold_tolerance: float = 0.03
    seed: int = 42
    als_params: dict[str, Any] = field(default_factory=dict)  # fixed ALS params (skip tuning)
    spark_params: dict[str, Any] = field(
        default_factory=lambda: {"factors": 32, "regularization": 0.05, "alpha": 2.0, "iterations": 10}
    )


class Tuning:
    """Hyperparameters found on a validation split, shared between models trained on it."""

    def __init__(self) -> None:
        self.params: dict[str, dict[str, Any]] = {}
        self.trials: dict[str, list[dict[str, Any]]] = {}
        self.seconds: dict[str, float] = {}


# --- data ------------------------------------------------------------------------------------------


def ranking_data(index: Any, user_ids: list[str] | None = None, seed: int = 42) -> RankingData:
    """RankingData for an open `Index`: its interactions, embeddings and item texts."""
    catalog = index.catalog
    train = InteractionMatrix.from_interactions(catalog.interactions, catalog.ids, user_ids=user_ids)
    emb = np.asarray(index.embeddings, dtype=np.float32)
    if emb.shape[0] != len(catalog):
        raise ConvrecError(f"The index for {index.name!r} is inconsistent (embeddings vs items); rebuild it.")
    texts = [request_text(it.title, it.text) for it in catalog.items]
    return RankingData(train, emb, catalog.name, item_text=texts, seed=seed, data_dir=index.settings.data_dir)


def _resolve_parts(spec: ModelSpec, data: RankingData) -> tuple[str, ...]:
    parts = []
    for name in spec.parts:
        if name == "kg" and not has_knowledge_graph(data.catalog_name):
            if name in spec.optional:
                continue
            raise ConvrecError(f"Catalog {data.catalog_name!r} has no knowledge graph; the kg model needs one.")
        parts.append(name)
    return tuple(parts)


def _make_part(name: str, tuning: Tuning, options: TrainOptions) -> ScorePart:
    if name == "als":
        if options.engine == "spark":
            return ALSPart(**options.spark_params, engine="spark", spark_master=options.spark_master)
        return ALSPart(**tuning.params.get("als", {}))
    if name == "regmf":
        return TextRegularizedMFPart(**tuning.params.get("regmf", {}))
    if name == "profile":
        return EmbeddingProfilePart()
    if name == "kg":
        return KnowledgeGraphPart()
    if name == "popularity":
        return PopularityPart()
    if name == "itemknn":
        return ItemKNNPart(**tuning.params.get("itemknn", {}))
    raise ConvrecError(f"Unknown score part {name!r}.")


def _tune(parts: tuple[str, ...], data: RankingData, val: Validation, tuning: Tuning, options: TrainOptions, log: Log) -> None:
    needs_als = ("als" in parts and options.engine == "implicit") or "regmf" in parts
    if needs_als and "als" not in tuning.params:
        t0 = time.perf_counter()
        if options.tune and not options.als_params:
            log("Tuning ALS on the validation split …")
            tuning.params["als"], tuning.trials["als"] = tune_als(data, val, log=log, quick=options.quick)
        else:
            tuning.params["als"] = {**ALSPart().params(), **options.als_params}
            tuning.params["als"].pop("engine", None)
            tuning.params["als"].pop("spark_master", None)
        tuning.seconds["als"] = time.perf_counter() - t0
    if "itemknn" in parts and "itemknn" not in tuning.params and options.tune:
        t0 = time.perf_counter()
        log("Tuning item-kNN …")
        tuning.params["itemknn"], tuning.trials["itemknn"] = tune_itemknn(data, val, log=log, quick=options.quick)
        tuning.seconds["itemknn"] = time.perf_counter() - t0
    if "regmf" in parts and "regmf" not in tuning.params:
        t0 = time.perf_counter()
        log("Tuning the text-regularized MF …")
        base = tuning.params["als"]
        if options.tune:
            tuning.params["regmf"], tuning.trials["regmf"] = tune_regmf(
                data, val, base, options.cold_tolerance, log=log, quick=options.quick
            )
        else:
            tuning.params["regmf"] = {k: base[k] for k in ("factors", "regularization", "alpha")}
        tuning.seconds["regmf"] = time.perf_counter() - t0


def fit_ranker(
    name: str,
    data: RankingData,
    split: Split,
    options: TrainOptions | None = None,
    tuning: Tuning | None = None,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    log: Log = _quiet,
) -> tuple[HybridRanker, dict[str, Any]]:
    """Train model `name` on `data` (= the split's training part) and fit its weights on the
    split's validation part. Returns the ranker and a report of what was chosen."""
    options = options or TrainOptions()
    tuning = tuning or Tuning()
    spec = MODELS.get(name)
    if spec is None:
        raise ConvrecError(f"Unknown model {name!r}; choose one of: {', '.join(MODELS)}.")
    if data.train.nnz == 0:
        raise ConvrecError(
            f"Catalog {data.catalog_name!r} has no interactions, so there is nothing to train on; "
            "the untrained content + popularity ranker serves until it has some."
        )
    val = Validation.from_split(split)
    parts_names = _resolve_parts(spec, data)
    _tune(parts_names, data, val, tuning, options, log)
    parts: dict[str, ScorePart] = {}
    for part_name in parts_names:
        t0 = time.perf_counter()
        parts[part_name] = _make_part(part_name, tuning, options).fit(data, log=log)
        log(f"Fitted {part_name} in {time.perf_counter() - t0:.1f}s.")
    kg = parts.get("kg")
    if isinstance(kg, KnowledgeGraphPart) and not kg.trusted and len(parts) > 1:
        log("Leaving the knowledge graph out of this hybrid: its item links failed the link check.")
        del parts["kg"]
        parts_names = tuple(n for n in parts_names if n != "kg")
    ranker_cls = RANKER_KINDS[spec.kind] if spec.kind in RANKER_KINDS else _fusion_class()
    ranker = ranker_cls(parts, data, info=RankerInfo(name=name, catalog=data.catalog_name, engine=options.engine))
    log(f"Fitting {name} weights on {val.warm.nnz:,} validation interactions …")
    report: dict[str, Any] = {"parts": list(parts_names), "params": {n: p.params() for n, p in parts.items()}}
    fit_combiner = getattr(ranker, "fit_combiner", None)  # the fusion ranker trains its network
    if fit_combiner is not None:
        report["weights_fit"] = fit_combiner(val, options.cold_tolerance, log=log)
    else:
        report["weights_fit"] = fit_weights(
            ranker, val, options.cold_tolerance, log=log, simulate_short=150 if options.quick else 400,
            zero=spec.evidence_only,
        )
    report["semantic"] = fit_semantic_weight(
        ranker, val, data.item_text, embed, log=log, max_requests=150 if options.quick else 300
    )
    return ranker, report


def _fusion_class() -> type[HybridRanker]:
    from convrec.ranking.paradigms.fusion import FusionRanker

    return FusionRanker


def refit(ranker: HybridRanker, data: RankingData, log: Log = _quiet) -> HybridRanker:
    """The same ranker (parameters, weights) with its parts refitted on `data`."""
    parts = {}
    for name, part in ranker.parts.items():
        t0 = time.perf_counter()
        parts[name] = type(part)(**part.params()).fit(data, log=log)
        log(f"Refitted {name} on all {data.train.nnz:,} interactions in {time.perf_counter() - t0:.1f}s.")
    out = type(ranker)(
        parts,
        data,
        weights={b: Weights(dict(w.parts), w.unseen) for b, w in ranker.weights.items()},
        semantic_weight=ranker.semantic_weight,
        short_history=ranker.short_history,
        info=ranker.info,
    )
    out.adopt_combiner(ranker)
    return out


def production_split(data: RankingData, seed: int = 42) -> Split:
    """The validation split `convrec train` tunes on: no test part."""
    return make_split(
        data.train, train_frac=0.9, valid_frac=0.1, cold_item_frac=0.0, valid_cold_item_frac=0.05, seed=seed
    )


def train(
    index: Any,
    name: str | None = None,
    options: TrainOptions | None = None,
    log: Log = _quiet,
) -> tuple[HybridRanker, Path, dict[str, Any]]:
    """`convrec train`: train model `name` for an open index and save it next to the index."""
    options = options or TrainOptions()
    name = check_name(name or DEFAULT_MODEL)
    if name not in MODELS:
        raise ConvrecError(f"Unknown model {name!r}; choose one of: {', '.join(MODELS)}.")
    started = time.perf_counter()
    data = ranking_data(index, seed=options.seed)
    if data.train.nnz == 0:
        raise ConvrecError(
            f"Catalog {data.catalog_name!r} has no interactions, so there is nothing to train on; "
            "the untrained content + popularity ranker serves until it has some."
        )
    log(
        f"Training {name!r} for {data.catalog_name}: {data.train.n_users:,} users, {data.n_items:,} items, "
        f"{data.train.nnz:,} interactions ({data.train.dropped_unknown_items:,} on unknown items dropped)."
    )
    split = production_split(data, options.seed)
    split_data = dataclasses.replace(data, train=split.train)

    def embed(texts: list[str]) -> np.ndarray:
        log(f"Embedding {len(texts):,} simulated requests …")
        return index.embedder.encode(texts)

    ranker, report = fit_ranker(name, split_data, split, options, embed=embed, log=log)
    final = refit(ranker, data, log=log)
    final.info.trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    final.info.train_s = round(time.perf_counter() - started, 2)
    final.info.validation = _jsonable(report)
    target = models_dir(index.path) / name

    def write(tmp: Path) -> None:
        final.save(tmp)
        (tmp / "users.json").write_text(json.dumps(data.train.user_ids), encoding="utf-8")

    save_atomic(target, write)
    log(f"Saved {name!r} to {target} ({final.info.train_s:.1f}s in all).")
    return final, target, report


# --- loading -------------------------------------------------------------------------------------


def trained_models(index: Any) -> list[str]:
    root = models_dir(index.path)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "ranker.json").exists())


def load_ranker(index: Any, name: str | None = None) -> HybridRanker:
    """The ranker `convrec train` saved for this index (model `name`, default `DEFAULT_MODEL`).

    With no name and nothing trained yet, returns the untrained fallback: embedding profile +
    popularity with fixed weights (`UNTRAINED_WEIGHTS`), which needs no training. Asking for a
    named model that was not trained is an error."""
    folder = models_dir(index.path) / check_name(name or DEFAULT_MODEL)
    if not (folder / "ranker.json").exists():
        if name is not None:
            raise ConvrecError(
                f"Model {name!r} is not trained for the {index.name!r} index; run `convrec train --model {name}`."
            )
        return untrained_ranker(index)
    try:
        users = json.loads((folder / "users.json").read_text(encoding="utf-8"))
        data = ranking_data(index, user_ids=users)
        return HybridRanker.load(folder, data)
    except (OSError, ValueError, KeyError) as exc:
        raise ConvrecError(f"The saved model in {folder} cannot be read ({exc}); train it again.") from None


def untrained_ranker(index: Any) -> HybridRanker:
    """Content + popularity with fixed weights: serves before any training. A catalog's
    knowledge graph needs no training either: when its links pass the check it is there for its
    reasons and relations ("by the director of Fargo"), at weight 0 as in the default."""
    data = ranking_data(index)
    parts: dict[str, ScorePart] = {
        "profile": EmbeddingProfilePart().fit(data),
        "popularity": PopularityPart().fit(data),
    }
    if has_knowledge_graph(data.catalog_name):
        kg = KnowledgeGraphPart().fit(data)
        if kg.trusted:
            parts["kg"] = kg
    weights = {b: Weights({**UNTRAINED_WEIGHTS, **({"kg": 0.0} if "kg" in parts else {})}, 0.0) for b in ("short", "long")}
    info = RankerInfo(name="untrained", catalog=data.catalog_name, notes=["untrained fallback: content + popularity"])
    return HybridRanker(parts, data, weights=weights, semantic_weight=UNTRAINED_SEMANTIC, info=info)


def _jsonable(value: Any) -> Any:
    """Plain JSON types (numpy scalars become Python numbers)."""
    return json.loads(json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ModelSpec",
    "TrainOptions",
    "Tuning",
    "fit_ranker",
    "load_ranker",
    "ranking_data",
    "refit",
    "train",
    "trained_models",
    "untrained_ranker",
]
