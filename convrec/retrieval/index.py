"""Building, opening and searching a catalog's index.

Layout under `<home>/indexes/<catalog>/`:

    current.json           which build serves (replaced atomically, last step of a build)
    builds/<id>/           one complete build: manifest.json, catalog.pkl (items, schema,
                           interactions), embeddings.npy, chroma/ (embedded mode), models/ (ranking)
    builds/<id>.partial/   a build in progress; never read; removed by the next build
    .build.lock            held while building, so two builds never race

A build is made aside and swapped in by replacing `current.json`, so a build that fails or is
killed leaves the previous index serving. In server mode the vectors live in a Chroma server
collection named `convrec-<catalog>-<id>`; the rest of the build stays in the local folder.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import pickle
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel
from tqdm.auto import tqdm

from convrec import assets
from convrec.config import HnswSettings, Settings
from convrec.errors import ConvrecError, IndexNotBuiltError
from convrec.retrieval.catalog import Catalog, CatalogSchema, Interactions, Item, LoadReport
from convrec.retrieval.embedder import SentenceEmbedder
from convrec.retrieval.filters import FacetColumns, SearchFilters, item_metadata
from convrec.retrieval.loaders import load_catalog
from convrec.retrieval.mapping import BUILTIN_CATALOGS, load_mapping
from convrec.retrieval.store import ChromaStore

SNAPSHOT_VERSION = 1
ADD_BATCH = 2000  # records per Chroma add(); bigger batches are faster but hold more memory

# The filtered-search planner (see `Index.search`), set by bench/retrieval.py on Book-Crossing:
# Chroma's own `where` filtering reads the matching ids from SQLite for every query, which took
# over a second (p95) for broad filters on 271k items. Instead the filter becomes a numpy row mask
# (milliseconds); few matches are searched exactly, many through the HNSW index without a filter,
# fetching enough neighbours that k of them match (then checked against the mask).
EXACT_MAX_ROWS = 20_000  # up to this many matching items, exact search over just them is cheapest
OVERSAMPLE = 2.0  # fetch this many times the neighbours the filter's selectivity calls for
MAX_FETCH = 2_000  # beyond this many neighbours, a masked exact search over all items is cheaper
EMBED_CACHE = 256  # texts whose vectors `Index.embed` keeps (a turn embeds its words more than once)


class IndexManifest(BaseModel):
    """What a build holds; written last inside the build folder."""

    catalog: str
    description: str = ""
    build_id: str
    created_at: str
    embedding_model: str
    dims: int
    items: int
    users: int
    interactions: int
    store: str  # "embedded" or the server URL
    collection: str
    hnsw: HnswSettings
    build_s: float
    embed_s: float
    embedded_items: int  # how many vectors were computed (the rest reused from the last build)
    load_report: str
    snapshot_version: int = SNAPSHOT_VERSION


@dataclass(frozen=True, slots=True)
class SearchHit:
    item: Item
    score: float  # cosine similarity to the query, in [-1, 1]


def catalog_name(ref: str) -> str:
    """The index name of a catalog reference (a built-in name, a mapping path, or a name)."""
    if ref in BUILTIN_CATALOGS or not (ref.endswith(".toml") or os.sep in ref):
        return ref
    return load_mapping(ref).name


def catalog_root(settings: Settings, name: str) -> Path:
    return settings.index_dir / name


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _store_for(settings: Settings, build_dir: Path) -> ChromaStore:
    if settings.chroma_url:
        return ChromaStore.server(settings.chroma_url)
    return ChromaStore.embedded(build_dir / "chroma")


def _collection_name(name: str, build_id: str, server: bool) -> str:
    return f"convrec-{name}-{build_id}" if server else f"convrec-{name}"


def _make_embedder(settings: Settings) -> SentenceEmbedder:
    return SentenceEmbedder(device=settings.resolved_device(), batch_size=settings.embed_batch_size)


# --- building ------------------------------------------------------------------------------------


class _BuildLock:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self._path = root / ".build.lock"
        self._fd: int | None = None

    def __enter__(self) -> _BuildLock:
        self._fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise ConvrecError(f"Another build of this catalog is running (lock {self._path}).") from None
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _current_build(root: Path) -> str | None:
    try:
        return json.loads((root / "current.json").read_text(encoding="utf-8"))["build"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        return None


def _reusable_vectors(root: Path, items: list[Item], model: str) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of the serving build for items whose text did not change: (rows, mask)."""
    dims = None
    out = None
    mask = np.zeros(len(items), dtype=bool)
    current = _current_build(root)
    if current is None:
        return np.zeros((len(items), 0), np.float32), mask
    build = root / "builds" / current
    try:
        manifest = IndexManifest.model_validate_json((build / "manifest.json").read_text())
        if manifest.embedding_model != model:
            return np.zeros((len(items), 0), np.float32), mask
        with open(build / "catalog.pkl", "rb") as handle:
            old_items = pickle.load(handle)["items"]
        old_vectors = np.load(build / "embeddings.npy", mmap_mode="r")
    except (OSError, ValueError, KeyError, pickle.UnpicklingError, EOFError):
        return np.zeros((len(items), 0), np.float32), mask
    dims = old_vectors.shape[1]
    out = np.zeros((len(items), dims), np.float32)
    old = {it.id: (i, it.text) for i, it in enumerate(old_items)}
    for i, item in enumerate(items):
        hit = old.get(item.id)
        if hit is not None and hit[1] == item.text:
            out[i] = old_vectors[hit[0]]
            mask[i] = True
    return out, mask


def _cleanup(root: Path, keep: set[str], store: ChromaStore | None, name: str) -> None:
    """Remove stale partial builds and builds no longer kept (with their server collections)."""
    builds = root / "builds"
    if builds.is_dir():
        for entry in builds.iterdir():
            build_id = entry.name.removesuffix(".partial")
            if entry.name.endswith(".partial") or build_id not in keep:
                shutil.rmtree(entry, ignore_errors=True)
    if store is not None:
        prefix = f"convrec-{name}-"
        for col in store.collection_names():
            if col.startswith(prefix) and col[len(prefix) :] not in keep:
                store.delete_collection(col)


def build_index(
    settings: Settings,
    catalog: str | Catalog | None = None,
    progress: bool = True,
    log: Callable[[str], None] = lambda msg: None,
) -> IndexManifest:
    """Load a catalog, embed it, fill a fresh Chroma collection, then swap it in atomically."""
    started = time.perf_counter()
    if isinstance(catalog, Catalog):
        cat = catalog
    else:
        ref = catalog or settings.catalog
        log(f"Loading catalog {ref} …")
        cat = load_catalog(ref, settings.data_dir, skip_bad_rows=settings.skip_bad_rows)
    log(f"Loaded {len(cat):,} items and {len(cat.interactions):,} interactions ({cat.report.summary()}).")
    assets.fetch_catalog_extras(cat.name, settings.data_dir, log)
    root = catalog_root(settings, cat.name)
    with _BuildLock(root):
        previous = _current_build(root)
        keep = {previous} if previous else set()
        store = ChromaStore.server(settings.chroma_url) if settings.chroma_url else None
        _cleanup(root, keep, store, cat.name)

        build_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        partial = root / "builds" / f"{build_id}.partial"
        final = root / "builds" / build_id
        partial.mkdir(parents=True)

        embedder = _make_embedder(settings)
        vectors, reused = _reusable_vectors(root, cat.items, embedder.model_name)
        if vectors.shape[1] != embedder.dim:
            vectors = np.zeros((len(cat), embedder.dim), np.float32)
            reused[:] = False
        todo = np.flatnonzero(~reused)
        t0 = time.perf_counter()
        if len(todo):
            log(f"Embedding {len(todo):,} items with {embedder.model_name} on {embedder.device} …")
            vectors[todo] = embedder.encode([cat.items[i].text for i in todo], progress=progress)
        embed_s = time.perf_counter() - t0
        np.save(partial / "embeddings.npy", vectors)

        store = store or ChromaStore.embedded(partial / "chroma")
        collection = _collection_name(cat.name, build_id, settings.chroma_url is not None)
        store.create_collection(collection, settings.hnsw)
        bar = tqdm(total=len(cat), desc="Indexing", unit="item", disable=not progress, leave=False)
        for start in range(0, len(cat), ADD_BATCH):
            chunk = cat.items[start : start + ADD_BATCH]
            store.add(
                collection,
                [it.id for it in chunk],
                vectors[start : start + ADD_BATCH],
                [item_metadata(it) for it in chunk],
                [it.text for it in chunk],
            )
            bar.update(len(chunk))
        bar.close()

        with open(partial / "catalog.pkl", "wb") as handle:
            pickle.dump(
                {
                    "version": SNAPSHOT_VERSION,
                    "name": cat.name,
                    "description": cat.description,
                    "items": cat.items,
                    "schema": cat.schema.to_dict(),
                    "interactions": cat.interactions.frame,
                    "report": cat.report,
                },
                handle,
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        manifest = IndexManifest(
            catalog=cat.name,
            description=cat.description,
            build_id=build_id,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            embedding_model=embedder.model_name,
            dims=embedder.dim,
            items=len(cat),
            users=int(cat.interactions.frame["user"].nunique()),
            interactions=len(cat.interactions),
            store=settings.chroma_url or "embedded",
            collection=collection,
            hnsw=settings.hnsw,
            build_s=round(time.perf_counter() - started, 3),
            embed_s=round(embed_s, 3),
            embedded_items=int(len(todo)),
            load_report=cat.report.summary(),
        )
        (partial / "manifest.json").write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
        del store  # let go of the embedded client before the folder moves
        os.replace(partial, final)
        _write_json_atomic(root / "current.json", {"build": build_id, "swapped_at": time.time()})
        # Keep the build we replaced: a server that still has it open keeps working until it reloads.
        server_store = ChromaStore.server(settings.chroma_url) if settings.chroma_url else None
        _cleanup(root, {build_id} | keep, server_store, cat.name)
        log(f"Built index {build_id} for {cat.name} in {manifest.build_s:.1f}s.")
        return manifest


# --- opening and searching -----------------------------------------------------------------------


class Index:
    """A built catalog index: items, vectors and the Chroma collection, ready to search."""

    def __init__(self, settings: Settings, name: str, build_id: str) -> None:
        self.settings = settings
        self.name = name
        self.root = catalog_root(settings, name)
        self.build_id = build_id
        self.path = self.root / "builds" / build_id
        try:
            self.manifest = IndexManifest.model_validate_json((self.path / "manifest.json").read_text())
            with open(self.path / "catalog.pkl", "rb") as handle:
                snap = pickle.load(handle)
        except (OSError, ValueError, pickle.UnpicklingError, EOFError) as exc:
            raise IndexNotBuiltError(
                f"The index for {name!r} is damaged ({exc}); run `convrec build --catalog {name}` again."
            ) from None
        if snap.get("version") != SNAPSHOT_VERSION:
            raise IndexNotBuiltError(f"The index for {name!r} was made by another convrec version; rebuild it.")
        self.catalog = Catalog(
            snap["name"],
            snap["items"],
            CatalogSchema.from_dict(snap["schema"]),
            Interactions(snap["interactions"]),
            snap.get("report") or LoadReport(),
            snap.get("description", ""),
        )
        # In memory, not memory-mapped: exact searches gather rows from it (400 MB for 271k items).
        self.embeddings = np.load(self.path / "embeddings.npy")
        if self.manifest.store == "embedded":
            self.store = ChromaStore.embedded(self.path / "chroma")
        else:
            url = settings.chroma_url or self.manifest.store
            self.store = ChromaStore.server(url)
        self._embedder: SentenceEmbedder | None = None
        self._columns: FacetColumns | None = None
        self._lazy_lock = threading.Lock()
        # A turn embeds the same words more than once (the query vector, then the lean on what they
        # closely match): the latest texts' vectors are kept, read-only, so the model runs once.
        self._embedded = functools.lru_cache(maxsize=EMBED_CACHE)(self._encode)

    @classmethod
    def open(cls, settings: Settings, catalog: str | None = None) -> Index:
        name = catalog_name(catalog or settings.catalog)
        build = _current_build(catalog_root(settings, name))
        if build is None:
            raise IndexNotBuiltError(f"No index for catalog {name!r} yet; run `convrec build --catalog {name}` first.")
        return cls(settings, name, build)

    def is_stale(self) -> bool:
        """True when a newer build has been swapped in since this one was opened."""
        return _current_build(self.root) != self.build_id

    @property
    def embedder(self) -> SentenceEmbedder:
        # Locked: concurrent first queries (a server's worker threads) must share one embedder, and
        # two threads importing transformers' lazy modules at once can fail with an ImportError.
        with self._lazy_lock:
            if self._embedder is None:
                self._embedder = _make_embedder(self.settings)
            return self._embedder

    def embed(self, text: str) -> np.ndarray:
        """The text's vector (read-only; the same array for the same text while it stays cached)."""
        return self._embedded(text)

    def _encode(self, text: str) -> np.ndarray:
        vector = self.embedder.encode_one(text)
        vector.setflags(write=False)
        return vector

    def vector(self, item_id: str) -> np.ndarray:
        return np.asarray(self.embeddings[self.catalog.position(item_id)])

    def warm(self) -> None:
        """Load the embedding model, the facet columns and the catalog's twin groups now rather
        than on the first turn."""
        self.embed("warm up")
        self.columns.mask(SearchFilters())
        self.catalog.twins("")

    @property
    def columns(self) -> FacetColumns:
        """The catalog's facets as numpy columns (built on first filtered search)."""
        with self._lazy_lock:
            if self._columns is None:
                self._columns = FacetColumns(self.catalog)
            return self._columns

    def search(
        self, query: str | np.ndarray, k: int = 10, filters: SearchFilters | None = None
    ) -> list[SearchHit]:
        """The `k` items most similar to `query` (text or vector) that meet `filters`.

        Filters are hard, and if k matching items exist, k come back. Unfiltered queries go to the
        HNSW index. A filter is first turned into a row mask: when few items match, they are
        searched exactly; when many match, the HNSW index is asked for enough neighbours that k of
        them should match, and an exact search over the matches completes any shortfall.
        """
        if k <= 0:
            return []
        vector = self.embed(query) if isinstance(query, str) else np.asarray(query, dtype=np.float32)
        filters = (filters or SearchFilters()).normalized(self.catalog.schema)
        n = len(self.catalog)
        if filters.is_empty():
            ids, dists = self.store.query(self.manifest.collection, vector, min(k, n))
            return [SearchHit(self.catalog.get(i), 1.0 - d) for i, d in zip(ids, dists)]
        mask = self.columns.mask(filters)
        matches = int(mask.sum())
        want = min(k, matches)
        if want == 0:
            return []
        if matches <= EXACT_MAX_ROWS:  # selective: score just the matching rows
            rows = np.flatnonzero(mask)
            return self._hits(rows[exact_search(self.embeddings[rows], vector, want)], vector)
        fetch = min(n, int(np.ceil(want * n / matches * OVERSAMPLE)) + 10)
        if fetch <= MAX_FETCH:  # broad: the HNSW index, unfiltered, then checked
            ids, dists = self.store.query(self.manifest.collection, vector, fetch)
            rows = self.catalog.rows
            hits = [SearchHit(self.catalog.get(i), 1.0 - d) for i, d in zip(ids, dists) if mask[rows[i]]]
            if len(hits) >= want:
                return hits[:want]
        # The neighbourhood holds too few matches: exact over all items, non-matching ones masked.
        return self._hits(exact_search(self.embeddings, vector, want, mask), vector)

    def _hits(self, rows: np.ndarray, vector: np.ndarray) -> list[SearchHit]:
        sims = np.asarray(self.embeddings[rows]) @ vector
        return [SearchHit(self.catalog.items[int(r)], float(sim)) for r, sim in zip(rows, sims)]


def exact_search(embeddings: np.ndarray, vector: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Row numbers of the k most similar rows (brute force), optionally among `mask` rows only."""
    sims = np.asarray(embeddings) @ vector
    if mask is not None:
        sims = np.where(mask, sims, -np.inf)
        k = min(k, int(mask.sum()))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-sims, k - 1)[:k]
    return part[np.argsort(-sims[part], kind="stable")]
