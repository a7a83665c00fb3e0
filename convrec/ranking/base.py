"""The ranking vocabulary: what the agent passes in, what comes back, and what every score part does.

- `UserProfile` (in): who is asking — a known user id and/or liked and disliked items from the chat.
- `ScoredItem` (out): one candidate with its total score, the score parts that make it up, and
  grounded evidence (data the reply stage can turn into a reason).
- `UserState`: a profile resolved against the training data (catalog positions, not ids).
- `ScorePart`: one trainable scorer (CF factors, embedding profile, knowledge graph, ...). The
  same object scores every known user at once (offline evaluation) and one user's candidates
  (serving), and saves to and loads from a folder.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from convrec.ranking.data import InteractionMatrix

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class UserProfile:
    """The person to rank for.

    `user_id` names a user of the catalog's interactions (their history is used) or is None / an
    id the data does not know (then only `liked` counts). `liked` maps item ids to a strength
    (1.0 = a plain "I liked it"); `disliked` holds item ids the person rejected. Ids the catalog
    does not know are ignored (and listed in `RankResult.ignored`), never an error.
    """

    user_id: str | None = None
    liked: Mapping[str, float] = field(default_factory=dict)
    disliked: set[str] | frozenset[str] | list[str] | tuple[str, ...] = field(default_factory=set)


@dataclass
class ScoredItem:
    """One ranked candidate.

    `parts` holds each score part's contribution (weight × normalized score), so they add up to
    `score`; `evidence` holds grounded reason data, e.g. ``{"kind": "kg", "relation":
    "directed_by", "liked_item": "608"}`` or ``{"kind": "similar_to_liked", "liked_item": "50",
    "similarity": 0.8}``.
    """

    item_id: str
    score: float
    parts: dict[str, float] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class UserState:
    """A `UserProfile` resolved to catalog positions.

    `row` is the user's row in the training matrix (None for people the model never saw);
    `items`/`weights` are the positives (history plus in-chat likes) with their strengths;
    `folded` says the positives differ from the training row, so factor models must fold in
    instead of reading the trained user vector.
    """

    row: int | None
    items: np.ndarray
    weights: np.ndarray
    disliked: np.ndarray
    folded: bool

    @classmethod
    def empty(cls) -> UserState:
        return cls(None, np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64), True)

    @property
    def history_size(self) -> int:
        return int(len(self.items))


@dataclass
class RankingData:
    """What score parts train on and read at serving time."""

    train: InteractionMatrix
    embeddings: np.ndarray  # (n_items, dims) unit rows, aligned with the catalog
    catalog_name: str
    item_text: list[str] = field(default_factory=list)  # for knowledge sources and simulated requests
    seed: int = 42
    data_dir: Path | None = None  # convrec's data cache (knowledge sources `convrec build` fetched)

    @property
    def n_items(self) -> int:
        return self.train.n_items

    def state_for_row(self, row: int) -> UserState:
        items = self.train.row_items(row).astype(np.int64)
        return UserState(row, items, np.ones(len(items), np.float32), np.zeros(0, np.int64), False)


class ScorePart(ABC):
    """One trainable scorer. Conventions follow scikit-learn: no work in `__init__`, `fit`
    returns self, learned state ends in `_`, and parameters are plain attributes."""

    name: ClassVar[str]
    #: True when the part needs interactions to train (pure collaborative filtering).
    needs_interactions: ClassVar[bool] = False

    @abstractmethod
    def fit(self, data: RankingData, log: Log = _quiet) -> ScorePart:
        """Learn from `data.train` (and embeddings); may keep a reference to `data`."""

    @abstractmethod
    def score_users(self, rows: np.ndarray) -> np.ndarray:
        """Scores of every item for training users `rows`: shape (len(rows), n_items)."""

    @abstractmethod
    def score_state(self, state: UserState, items: np.ndarray) -> np.ndarray:
        """Scores of catalog positions `items` for one (possibly unknown) user."""

    def params(self) -> dict[str, Any]:
        """Hyperparameters, for manifests and reports."""
        return {}

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "params.json").write_text(json.dumps(self.params(), indent=2), encoding="utf-8")
        self._save_state(folder)

    def _save_state(self, folder: Path) -> None:
        """Write learned arrays (override when there are any)."""

    @classmethod
    def load(cls, folder: Path, data: RankingData) -> ScorePart:
        params = json.loads((folder / "params.json").read_text(encoding="utf-8"))
        part = cls(**params)
        part._load_state(folder, data)
        return part

    def _load_state(self, folder: Path, data: RankingData) -> None:
        """Read learned arrays and bind to `data` (override when there are any)."""
        self.bind(data)

    def bind(self, data: RankingData) -> None:
        """Attach serving data (training matrix, embeddings) after loading."""
        self.data_ = data


def zscore_rows(scores: np.ndarray, sample: np.ndarray | None = None) -> np.ndarray:
    """Standardize each row by its own mean and spread (over `sample` columns if given).

    Parts live on very different scales (dot products, cosines, counts) and those scales vary
    from user to user; standardizing per user lets one set of weights combine them.
    """
    ref = scores if sample is None else scores[:, sample]
    mean = ref.mean(axis=1, keepdims=True)
    std = ref.std(axis=1, keepdims=True)
    std[std < 1e-9] = np.inf  # a constant row carries no preference: all zeros
    return ((scores - mean) / std).astype(np.float32)
