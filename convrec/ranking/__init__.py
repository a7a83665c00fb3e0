"""Ranking: CF/MF models (implicit ALS, item-kNN, Spark MLlib ALS), fold-in for new users,
the Stage 6 paradigms (embedding profile, text-regularized MF, fusion network, knowledge graph),
and the hybrid ranker that scores retrieval candidates from their parts.

The agent's interface:

    ranker = load_ranker(index)                       # what `convrec train` saved, or a fallback
    ranked = ranker.rank(UserProfile(user_id, liked, disliked), [(item_id, semantic), ...])
    ranker.similar_items(item_id, k)

Names are imported lazily, so that light modules (e.g. `convrec.ranking.data`, used by the
evaluation split) do not pull in the whole training stack.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "UserProfile": "convrec.ranking.base",
    "ScoredItem": "convrec.ranking.base",
    "UserState": "convrec.ranking.base",
    "RankingData": "convrec.ranking.base",
    "ScorePart": "convrec.ranking.base",
    "HybridRanker": "convrec.ranking.hybrid",
    "DEFAULT_MODEL": "convrec.ranking.train",
    "MODELS": "convrec.ranking.train",
    "TrainOptions": "convrec.ranking.train",
    "load_ranker": "convrec.ranking.train",
    "train": "convrec.ranking.train",
    "trained_models": "convrec.ranking.train",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'convrec.ranking' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
