"""The user simulator: its users never give a title word away, the targets are held out, the
metrics are computed as documented, the LLM baseline's titles are matched, and a small real run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from convrec.config import Settings
from convrec.eval.simulator import (
    CatalogMatcher,
    Episode,
    SimulationResult,
    SimUser,
    Stated,
    UserBuilder,
    Utterance,
    genre_phrase,
    leaks,
    spoken_title,
    title_words,
    user_ratings,
)


@pytest.fixture(scope="module")
def movielens(shared_data_dir: Path):
    from convrec.retrieval.loaders import load_catalog

    return load_catalog("movielens", shared_data_dir)


@pytest.fixture(scope="module")
def split(movielens):
    """Stage 2's offline split of the real MovieLens interactions (its default protocol)."""
    from convrec.eval.split import make_split
    from convrec.ranking.data import InteractionMatrix

    return make_split(InteractionMatrix.from_interactions(movielens.interactions, movielens.ids))


def test_title_words_and_leaks() -> None:
    assert title_words("The Lion King") == {"lion", "king"}
    assert title_words("Die Hard 2") == {"die", "hard", "2"}
    assert leaks("Something like Die Hard, please.", "Die Hard: With a Vengeance") == ["die", "hard"]
    assert leaks("Something from the 90s. Show me 10.", "The Usual Suspects") == []
    assert leaks("I'm in the mood for a comedy movie.", "M") == []  # single letters do not count
    assert leaks("Show me 10.", "10 Things I Hate About You") == ["10"]
    assert spoken_title("Shanghai Triad (Yao a yao yao dao waipo qiao)") == "Shanghai Triad"


def test_simulated_users_never_say_a_title_word_and_targets_are_held_out(movielens, split) -> None:
    ratings = user_ratings(movielens)
    users = UserBuilder(movielens, seed=7).build(split, ratings, n_users=300, max_turns=7)
    assert len(users) == 300
    train = split.train
    for user in users:
        target = movielens.get(user.target)
        row = train.user_index[user.user_id]
        history = {train.item_ids[j] for j in train.row_items(row)}
        assert user.target not in history and user.target not in user.seen  # the CF model never saw it
        test_items = {train.item_ids[j] for j in split.test[row].indices}
        assert user.target in test_items and ratings[(user.user_id, user.target)] >= 4
        first = user.utterances[0]
        # a genre opens the dialogue unless every genre word would give the title away
        assert first.reveals == "genre" or all(leaks(genre_phrase(g)[1], target.title) for g in target.categorical["genres"])
        for utt in user.utterances:
            assert leaks(utt.text, target.title) == [], (utt.text, target.title)
            assert "10" in utt.text or "ten" in utt.text  # every turn asks for 10 items
            # what the user has stated is always true of the target
            assert utt.stated.holds(target, "genres", "year")
            if utt.reveals == "similar":
                assert utt.value in history and ratings[(user.user_id, utt.value)] >= 4
                shared = set(movielens.get(utt.value).categorical["genres"]) & set(target.categorical["genres"])
                assert shared
    kinds = {u.reveals for user in users for u in user.utterances}
    assert kinds == {"genre", "more_genre", "era", "similar", "window"}


def test_same_seed_same_users(movielens, split) -> None:
    ratings = user_ratings(movielens)
    a = UserBuilder(movielens, seed=3).build(split, ratings, 20, 5)
    b = UserBuilder(movielens, seed=3).build(split, ratings, 20, 5)
    c = UserBuilder(movielens, seed=4).build(split, ratings, 20, 5)
    assert [(u.user_id, u.target, [x.text for x in u.utterances]) for u in a] == [
        (u.user_id, u.target, [x.text for x in u.utterances]) for u in b
    ]
    assert [u.user_id for u in a] != [u.user_id for u in c]


def test_stated_constraints(movielens) -> None:
    star_wars = movielens.get("50")  # 1977, Action Adventure Romance Sci-Fi War
    assert Stated(["Sci-Fi", "War"], 1970, 1979).holds(star_wars, "genres", "year")
    assert not Stated(["Sci-Fi", "Comedy"]).holds(star_wars, "genres", "year")
    assert not Stated(["Sci-Fi"], 1980, 1989).holds(star_wars, "genres", "year")
    assert not Stated([], similar=["50"]).holds(star_wars, "genres", "year")


def test_catalog_matcher_finds_titles_and_rejects_unknown_ones(movielens) -> None:
    m = CatalogMatcher(movielens)
    assert m.match("The Empire Strikes Back") == "172"
    assert m.match("The Empire Strikes Back (1980)") == "172"
    assert m.match("Cape Fear (1962)") == "673" and m.match("Cape Fear (1991)") == "218"
    assert m.match("Terminator 2: Judgement Day") == "96"  # a spelling variant
    assert m.match("Avatar") is None and m.match("The Dark Knight") is None
    assert m.match("The Godfather: Part III") is None  # not in MovieLens 100K, and not Part II
    assert m.match("The Godfather: Part II") == "187"


def _user(uid: str, target: str, turns: int) -> SimUser:
    return SimUser(uid, 0, target, set(), [Utterance(f"t{i}", "genre", "x", Stated()) for i in range(turns)])


def test_hit_by_turn_and_mean_turns() -> None:
    users = [_user("a", "1", 5), _user("b", "2", 5), _user("c", "3", 5), _user("d", "4", 5)]
    eps = [
        Episode([["1"]], {1: 1, 5: 1, 10: 1}),  # top-1 hit at turn 1
        Episode([["x"], ["y", "z", "2"]], {1: None, 5: 2, 10: 2}),  # rank 3 at turn 2
        Episode([["x"]] * 3 + [["a"] * 7 + ["3"]], {1: None, 5: None, 10: 4}),  # rank 8 at turn 4
        Episode([["x"]] * 5, {1: None, 5: None, 10: None}),  # never
    ]
    result = SimulationResult(users, 5, {"convrec": eps}, {"convrec": 1.0}, 0.0, "test")
    assert result.hit_by_turn("convrec", 1) == [0.25] * 5
    assert result.hit_by_turn("convrec", 5) == [0.25, 0.5, 0.5, 0.5, 0.5]
    assert result.hit_by_turn("convrec", 10) == [0.25, 0.5, 0.5, 0.75, 0.75]
    assert result.mean_turns("convrec") == (1 + 2 + 4 + 5) / 4  # never served counts max_turns
    data = result.to_json()
    assert data["hit_at_10_by_turn"]["convrec"] == [0.25, 0.5, 0.5, 0.75, 0.75]


# --- real runs -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_small_real_simulator_run_through_the_cli(ml_settings: Settings, ml_index, tmp_path: Path) -> None:
    from convrec.cli import app

    out = tmp_path / "sim"
    result = CliRunner().invoke(app, [
        "--home", str(ml_settings.home), "evaluate", "simulate", "--users", "4", "--max-turns", "3", "--no-llm",
        "--quick", "--out", str(out), "-q",
    ])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "simulator.json").read_text())
    assert data["users"] == 4 and data["max_turns"] == 3
    assert set(data["hit_at_10_by_turn"]) == {"convrec", "cf_only", "semantic_only", "popularity"}
    for values in data["hit_at_10_by_turn"].values():
        assert len(values) == 3 and all(0 <= v <= 1 for v in values) and values == sorted(values)
    for k in (1, 5):
        for name, values in data[f"hit_at_{k}_by_turn"].items():
            assert all(a <= b for a, b in zip(values, data["hit_at_10_by_turn"][name]))
    assert data["convrec"]["hallucinated_titles"] == 0
    assert data["convrec"]["items_per_turn"] > 5  # the simulated user asks for 10 each turn
    assert data["constraint_satisfaction"]["popularity"] is not None
    assert "held-out" in data["protocol"] and "seed 42" in data["protocol"]
    assert (out / "simulator.png").stat().st_size > 10_000
    assert "Hit@10 after each turn" in (out / "simulator.md").read_text()
    for tr in data["transcripts"]:
        for text in tr["messages"]:
            assert leaks(text, tr["target_title"]) == []


@pytest.mark.slow
def test_llm_zero_shot_names_titles_matched_to_the_catalog(local_llm, movielens) -> None:
    from convrec.eval.simulator import LLMZeroShotSystem

    system = LLMZeroShotSystem(local_llm, CatalogMatcher(movielens))
    user = SimUser("1", 0, "50", {"1"}, [Utterance("I'm in the mood for a sci-fi movie. Show me 10.", "genre", "Sci-Fi",
                                                  Stated(["Sci-Fi"]))])
    system.start(user)
    ids = system.turn(user, 0)
    assert system.named + system.repeated == 10  # the JSON schema asks for exactly 10 titles
    assert len(ids) + len(system.not_in_catalog) <= 10
    assert all(i in movielens for i in ids) and "1" not in ids
    assert len(set(ids)) == len(ids)
    assert system.messages[-1]["role"] == "assistant"  # the next turn sees what it said
    assert np.isfinite(system.call_seconds[0])
