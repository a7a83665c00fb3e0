"""Saving models next to the index they were trained for, atomically.

A model lives in `index.path / "models" / NAME`. It is written into a hidden temporary folder
beside it and renamed into place only when complete, so a crash or a kill mid-save never leaves a
half-written model where `load_ranker` looks; a replaced model is moved aside first and removed
after the swap.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from convrec.errors import ConvrecError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def models_dir(index_path: Path) -> Path:
    return index_path / "models"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConvrecError(
            f"Model name {name!r} is not allowed; use letters, digits, '-', '_' or '.', starting with a letter or digit."
        )
    return name


def save_atomic(target: Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` to fill a fresh folder, then rename it to `target`."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    for stale in parent.glob(f".{target.name}.tmp-*"):  # left behind by a killed save
        shutil.rmtree(stale, ignore_errors=True)
    token = secrets.token_hex(4)
    tmp = parent / f".{target.name}.tmp-{token}"
    try:
        write(tmp)
        _fsync_tree(tmp)
        if target.exists():
            old = parent / f".{target.name}.old-{token}"
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
