"""The `convrec` command line: build, search, info, and one-sentence errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convrec.cli import app
from convrec.config import Settings

runner = CliRunner()


def invoke(settings: Settings, *args: str):
    return runner.invoke(app, ["--home", str(settings.home), *args], env={"COLUMNS": "200"})


@pytest.mark.slow
def test_search_prints_a_table_with_filters(ml_settings: Settings, ml_index) -> None:
    result = invoke(
        ml_settings, "search", "space adventure", "-k", "5", "--genre", "sci-fi", "--not-genre", "war",
        "--min-year", "1990", "--max-year", "1999",
    )
    assert result.exit_code == 0, result.output
    assert "genres: Sci-Fi; not War; year 1990–1999" in result.output
    rows = [line for line in result.output.splitlines() if line.strip().startswith(("│", "┃")) and "Sci-Fi" in line]
    assert len(rows) == 5


@pytest.mark.slow
def test_info_describes_the_build(ml_settings: Settings, ml_index) -> None:
    result = invoke(ml_settings, "info")
    assert result.exit_code == 0
    for text in ("movielens", "all-MiniLM-L6-v2 (384 dims)", "1,680", "embedded", ml_index.build_id):
        assert text in result.output


@pytest.mark.slow
def test_bad_genre_is_one_sentence_and_exit_2(ml_settings: Settings, ml_index) -> None:
    result = invoke(ml_settings, "search", "x", "--genre", "comdy")
    assert result.exit_code == 2
    assert "Genre 'comdy' does not exist in this catalog. Did you mean Comedy?" in result.output
    assert "Traceback" not in result.output


def test_search_without_index(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--home", str(tmp_path), "search", "anything"])
    assert result.exit_code == 2 and "run `convrec build --catalog movielens` first" in result.output


def test_invalid_settings_are_one_sentence(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--home", str(tmp_path), "--chroma-url", "localhost:8000", "info"])
    assert result.exit_code == 2 and "chroma_url must start with http://" in result.output


def test_empty_query_and_bad_range(tmp_path: Path) -> None:
    assert "Give some text" in runner.invoke(app, ["--home", str(tmp_path), "search", "  "]).output


def test_build_reports_bad_rows_of_a_user_catalog(tmp_path: Path, shared_data_dir: Path) -> None:
    (tmp_path / "c.csv").write_text("id,title\n1,One\n1,Dup\n")
    (tmp_path / "c.toml").write_text('name = "c"\n[items]\npath = "c.csv"\nid = "id"\ntitle = "title"\n')
    result = runner.invoke(app, ["--home", str(tmp_path / "h"), "--catalog", str(tmp_path / "c.toml"), "build", "-q"])
    assert result.exit_code == 2
    assert "c.csv, line 3: duplicate id '1' (first seen on line 2)" in " ".join(result.output.split())


@pytest.mark.slow
def test_console_script_runs_offline(ml_settings: Settings, ml_index) -> None:
    exe = Path(sys.executable).with_name("convrec")
    env = {**os.environ, "CONVREC_HOME": str(ml_settings.home), "HF_HUB_OFFLINE": "1", "COLUMNS": "160"}
    out = subprocess.run([str(exe), "search", "star wars", "-k", "3"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Star Wars" in out.stdout


def test_info_says_whether_the_knowledge_graph_is_linked(tmp_path) -> None:
    from convrec.cli import _graph_status

    check = tmp_path / "link_check.json"
    check.write_text('{"z": 45.3, "items": 1509}')
    assert _graph_status(check).startswith("1,509 items linked, link check z = 45.3")
    check.write_text('{"z": 0.5, "items": 1400}')
    assert "failed the check" in _graph_status(check) and "convrec build" in _graph_status(check)
    check.write_text("{half")
    assert _graph_status(check).startswith("unreadable")
