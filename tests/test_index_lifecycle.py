"""Index lifecycle: server mode against a real `chroma run`, atomic rebuilds, killed builds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest

from convrec.config import Settings
from convrec.errors import ConvrecError, IndexNotBuiltError, StoreUnavailableError
from convrec.retrieval.filters import SearchFilters
from convrec.retrieval.index import Index, build_index
from tests.conftest import free_port

pytestmark = pytest.mark.slow

SMALL = (
    "id,title,genre,year\n"
    "1,Rocket Voyage,Sci-Fi|Adventure,1995\n"
    "2,Haunted Manor,Horror,1980\n"
    "3,Laugh Riot,Comedy,1999\n"
    "4,Galaxy Patrol,Sci-Fi|Action,1987\n"
    "5,Love in Paris,Romance|Comedy,2001\n"
)
SMALL_MAPPING = """
name = "small"
[items]
path = "small.csv"
id = "id"
title = "title"
text = "{title}. {genre}"
[items.categorical]
genre = { column = "genre", separator = "|" }
[items.numeric]
year = "year"
"""


def small_catalog(tmp_path: Path, rows: str = SMALL) -> Path:
    (tmp_path / "small.csv").write_text(rows)
    (tmp_path / "small.toml").write_text(SMALL_MAPPING)
    return tmp_path / "small.toml"


def test_server_mode_against_real_chroma_run(tmp_path: Path, settings: Settings, chroma_server: str) -> None:
    server_settings = settings.model_copy(update={"chroma_url": chroma_server})
    manifest = build_index(server_settings, str(small_catalog(tmp_path)), progress=False)
    assert manifest.store == chroma_server and manifest.collection.startswith("convrec-small-")
    # Nothing went to an embedded database: the vectors live on the server.
    assert not (settings.index_dir / "small" / "builds" / manifest.build_id / "chroma").exists()
    index = Index.open(server_settings, "small")
    hits = index.search("spaceships", k=2, filters=SearchFilters(exclude={"genre": ["Action"]}))
    assert [h.item.id for h in hits][0] == "1" and all("Action" not in h.item.categorical["genre"] for h in hits)
    # A rebuild makes a new server collection and keeps just the one it replaced.
    second = build_index(server_settings, str(small_catalog(tmp_path)), progress=False)
    third = build_index(server_settings, str(small_catalog(tmp_path)), progress=False)
    names = set(index.store.collection_names())
    assert {second.collection, third.collection} <= names and manifest.collection not in names


def test_dead_server_is_one_clear_sentence(tmp_path: Path, settings: Settings) -> None:
    dead = settings.model_copy(update={"chroma_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(StoreUnavailableError, match="Cannot reach the Chroma server at http://127.0.0.1"):
        build_index(dead, str(small_catalog(tmp_path)), progress=False)
    assert not (settings.index_dir / "small" / "current.json").exists()


def test_search_before_build_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(IndexNotBuiltError, match="run `convrec build --catalog movielens` first"):
        Index.open(settings, "movielens")


def test_failed_build_leaves_previous_index_serving(tmp_path: Path, settings: Settings) -> None:
    mapping = str(small_catalog(tmp_path))
    first = build_index(settings, mapping, progress=False)
    # Inject a fault a real part cannot produce on demand: the store dies half-way.
    with mock.patch("convrec.retrieval.store.ChromaStore.add", side_effect=StoreUnavailableError("disk gone")):
        with pytest.raises(StoreUnavailableError):
            build_index(settings, mapping, progress=False)
    index = Index.open(settings, "small")
    assert index.build_id == first.build_id
    assert index.search("ghosts", k=1)[0].item.id == "2"
    # The next build clears the debris and swaps in.
    second = build_index(settings, mapping, progress=False)
    builds = {p.name for p in (settings.index_dir / "small" / "builds").iterdir()}
    assert builds == {first.build_id, second.build_id}
    assert Index.open(settings, "small").build_id == second.build_id


def test_rebuild_reuses_vectors_of_unchanged_items(tmp_path: Path, settings: Settings) -> None:
    build_index(settings, str(small_catalog(tmp_path)), progress=False)
    changed = SMALL.replace("Laugh Riot", "Laugh Riot Returns")
    manifest = build_index(settings, str(small_catalog(tmp_path, changed)), progress=False)
    assert manifest.embedded_items == 1
    index = Index.open(settings, "small")
    assert index.search("laugh riot returns", k=1)[0].item.title == "Laugh Riot Returns"


def test_concurrent_build_is_refused(tmp_path: Path, settings: Settings) -> None:
    import fcntl

    root = settings.index_dir / "small"
    root.mkdir(parents=True)
    with open(root / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(ConvrecError, match="Another build of this catalog is running"):
            build_index(settings, str(small_catalog(tmp_path)), progress=False)


def test_killed_build_leaves_previous_index_serving(ml_settings: Settings, ml_index, tmp_path: Path) -> None:
    """SIGKILL a real `convrec build` of MovieLens half-way; the old index keeps serving."""
    root = ml_settings.index_dir / "movielens"
    before = json.loads((root / "current.json").read_text())["build"]
    env = {**os.environ, "CONVREC_HOME": str(ml_settings.home), "CONVREC_EMBED_BATCH_SIZE": "4"}
    # Make the build re-embed everything so it runs long enough to be killed mid-way.
    for npy in root.glob("builds/*/embeddings.npy"):
        os.rename(npy, npy.with_suffix(".npy.bak"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "convrec.cli", "build"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while not list(root.glob("builds/*.partial")):
            assert proc.poll() is None, proc.stdout.read()  # type: ignore[union-attr]
            assert time.time() < deadline
            time.sleep(0.1)
        time.sleep(2.0)  # well into embedding
        assert proc.poll() is None, "the build finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        for bak in root.glob("builds/*/embeddings.npy.bak"):
            os.rename(bak, bak.with_suffix(""))
        if proc.poll() is None:
            proc.kill()
    assert json.loads((root / "current.json").read_text())["build"] == before
    assert list(root.glob("builds/*.partial")), "the killed build's debris is still there"
    fresh = Index.open(ml_settings, "movielens")
    assert fresh.build_id == before
    assert {h.item.id for h in fresh.search("star wars", k=5)} >= {"50", "172", "181"}
    # The process that was serving all along is unaffected.
    assert ml_index.search("star wars", k=5)
