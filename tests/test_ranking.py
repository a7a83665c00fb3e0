"""Ranking on the real MovieLens index: training, fold-in, the hybrid's interface, saving and
loading, evidence, and bad input."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from convrec.errors import ConvrecError, UnknownItemError
from convrec.ranking import ScoredItem, UserProfile, load_ranker
from convrec.ranking.base import UserState
from convrec.ranking.hybrid import HybridRanker
from convrec.ranking.train import TrainOptions, train, trained_models, untrained_ranker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(ml_index):
    """The default hybrid, trained once for this module (quick: small grids and samples)."""
    ranker, path, report = train(ml_index, "hybrid", TrainOptions(quick=True))
    return ranker, path, report


def _genre_items(index, genre: str) -> list[str]:
    return [it.id for it in index.catalog if genre in it.categorical.get("genres", ())]


def _popular(index, ranker: HybridRanker, ids: list[str], n: int) -> list[str]:
    return sorted(ids, key=lambda i: -ranker.counts_[index.catalog.position(i)])[:n]


def _mean_rank(ranked: list[ScoredItem], ids: set[str]) -> float:
    return float(np.mean([r for r, item in enumerate(ranked) if item.item_id in ids]))


def test_training_fits_and_saves_weights(ml_index, trained) -> None:
    ranker, path, report = trained
    saved = json.loads((path / "ranker.json").read_text())
    assert path == ml_index.path / "models" / "hybrid" and "hybrid" in trained_models(ml_index)
    # the knowledge graph passes its link check (relinked through MovieLens-1M's titles), so it is a part
    assert set(saved["parts"]) == {"als", "itemknn", "popularity", "profile", "kg"}
    for bucket in ("short", "long"):
        weights = saved["weights"][bucket]["parts"]
        assert any(v != 1.0 for v in weights.values()), "weights were fitted, not left at their start"
        assert weights["kg"] == 0.0, "the graph is there for its reasons; its score did not earn a weight"
        assert saved["info"]["validation"]["weights_fit"][bucket]["ndcg_at_10"] > 0.05
    assert saved["semantic_weight"] == ranker.semantic_weight
    # The request match is weighed per bucket: the short-history parts weigh far more together.
    semantic = saved["info"]["validation"]["semantic"]
    assert set(ranker.semantic_weights) == {"short", "long"}
    for bucket in ("short", "long"):
        assert semantic[bucket]["requests"] > 0
        assert ranker.semantic_weights[bucket] == semantic[bucket]["semantic_weight"] > 0
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "no temporary folders left"
    # Loading gives the same ranker: same weights, same ranking.
    loaded = load_ranker(ml_index)
    assert loaded.weights == ranker.weights and loaded.semantic_weights == ranker.semantic_weights
    profile = UserProfile("196", liked={"50": 1.0})
    cands = [(it.id, 0.5) for it in ml_index.catalog.items[:100]]
    a, b = ranker.rank(profile, cands), loaded.rank(profile, cands)
    assert [x.item_id for x in a] == [x.item_id for x in b]
    assert np.allclose([x.score for x in a], [x.score for x in b], atol=1e-4)


def test_liking_three_horror_films_moves_horror_up(ml_index, trained) -> None:
    ranker = trained[0]
    horror = set(_genre_items(ml_index, "Horror"))
    liked = _popular(ml_index, ranker, sorted(horror), 3)
    rng = np.random.default_rng(0)
    pool = [it.id for it in ml_index.catalog if it.id not in liked]
    cands = [str(i) for i in rng.choice(pool, 300, replace=False)]
    assert len(horror & set(cands)) >= 5
    for user in (None, "196"):  # a new person, and a known user whose history is folded in with the likes
        before = ranker.rank(UserProfile(user), cands)
        after = ranker.rank(UserProfile(user, liked={i: 1.0 for i in liked}), cands)
        assert _mean_rank(after, horror) < _mean_rank(before, horror), user
    new_before = ranker.rank(UserProfile(None), cands)[:30]
    new_after = ranker.rank(UserProfile(None, liked={i: 1.0 for i in liked}), cands)[:30]
    assert sum(r.item_id in horror for r in new_after) > sum(r.item_id in horror for r in new_before)
    # The CF part alone, folded in: horror's share of the top 50 rises far above its base rate.
    als = ranker.parts["als"]
    positions = np.array([ml_index.catalog.position(i) for i in liked])
    state = UserState(None, positions, np.ones(3, np.float32), np.zeros(0, np.int64), True)
    scores = als.score_state(state, np.arange(len(ml_index.catalog)))
    scores[positions] = -np.inf
    top = [ml_index.catalog.items[j].id for j in np.argsort(-scores)[:50]]
    assert len(horror & set(top)) / 50 > 3 * len(horror) / len(ml_index.catalog)


def test_fold_in_of_a_known_user_matches_the_trained_vector(trained) -> None:
    ranker = trained[0]
    als = ranker.parts["als"]
    row = ranker.data.train.user_index["196"]
    state = ranker.data.state_for_row(row)
    trained_scores = als.score_state(state, np.arange(ranker.data.n_items))
    state.folded = True
    folded_scores = als.score_state(state, np.arange(ranker.data.n_items))
    assert np.corrcoef(trained_scores, folded_scores)[0, 1] > 0.99


def test_rank_returns_parts_and_grounded_evidence(ml_index, trained) -> None:
    ranker = trained[0]
    godfather, part2 = "127", "187"  # The Godfather, The Godfather: Part II
    assert "Godfather" in ml_index.catalog.get(part2).title
    # An unrelated film about as popular as Part II (no genre in common).
    counts = ranker.counts_
    genres = set(ml_index.catalog.get(part2).categorical["genres"])
    unrelated = min(
        (it for it in ml_index.catalog if not genres & set(it.categorical.get("genres", ()))),
        key=lambda it: abs(counts[ml_index.catalog.position(it.id)] - counts[ml_index.catalog.position(part2)]),
    ).id
    cands = [(part2, 0.5), (unrelated, 0.5), ("no-such-item", 0.9)]
    ranked = ranker.rank(UserProfile(None, liked={godfather: 1.0}), cands)
    assert [r.item_id for r in ranked][0] == part2, "the sequel of a liked film beats an unrelated one"
    assert "no-such-item" not in {r.item_id for r in ranked}, "unknown candidates are left out"
    top = ranked[0]
    assert set(top.parts) >= {"semantic", "als", "itemknn", "popularity", "profile", "unseen"}
    assert top.score == pytest.approx(sum(top.parts.values()), abs=1e-3)
    kinds = {e["kind"]: e for e in top.evidence}
    assert kinds["similar_to_liked"]["liked_item"] == godfather and kinds["similar_to_liked"]["basis"] == "cf"
    assert kinds["co_liked"]["liked_item"] == godfather and kinds["co_liked"]["users"] > 50
    assert kinds["matches_request"]["similarity"] == pytest.approx(0.5)
    assert kinds["kg"]["relation"] == "same_series" and kinds["kg"]["liked_item"] == godfather


def test_evidence_against_the_requests_anchors_only(trained) -> None:
    ranker = trained[0]
    godfather, part2, fargo = "127", "187", "100"
    ev = ranker.evidence_against([part2, "no-such-item"], [fargo, godfather])
    assert ev[1] == [] and {e["kind"] for e in ev[0]} <= {"kg", "co_liked", "similar_to_liked"}
    kinds = {e["kind"]: e for e in ev[0]}
    assert kinds["kg"]["relation"] == "same_series" and kinds["kg"]["liked_item"] == godfather
    assert all(e["liked_item"] in (fargo, godfather) for e in ev[0])
    assert ranker.evidence_against([part2], []) == [[]]


def test_knowledge_graph_reasons_and_link_check(ml_index, trained) -> None:
    from convrec.ranking.paradigms.kg import KnowledgeGraph, KnowledgeGraphPart, link_check

    data = trained[0].data
    pos = ml_index.catalog.position
    # recbole's graph with its links repaired through MovieLens-1M's titles (fetched by the
    # index build): most films linked, the links agree with the films' own text, and the part
    # names real shared relations as reasons.
    part = KnowledgeGraphPart().fit(data)
    assert part.trusted and part.link_check_["z"] > 20 and part.graph_.linked.sum() > 1400
    ev = part.evidence(pos("181"), np.array([pos("1"), pos("50")]))  # Return of the Jedi; Toy Story, Star Wars liked
    assert ev["kind"] == "kg" and ev["relation"] == "same_series" and ev["liked_item"] == "50"
    ev = part.evidence(pos("56"), np.array([pos("1"), pos("100")]))  # Pulp Fiction; Fargo liked
    assert ev["relation"] == "actor" and ev["liked_item"] == "100"  # Steve Buscemi
    # The links as shipped number films as MovieLens-1M does: they fail the check, so no reasons.
    shipped = KnowledgeGraphPart()
    shipped.graph_ = KnowledgeGraph._read_movielens(ml_index.catalog.ids, None)
    shipped.bind(data)
    shipped.link_check_ = link_check(shipped.similarity_, data.embeddings, shipped.graph_.linked)
    assert shipped.link_check_["z"] < 5 and not shipped.trusted
    assert shipped.evidence(pos("181"), np.array([pos("50")])) is None
    assert shipped.awards() is None  # untrusted links name wrong films' awards
    won, nominated = part.awards()
    assert won[pos("318")] >= 20 and nominated[pos("318")] >= won[pos("318")] - 5  # Schindler's List
    assert won[pos("313")] == nominated[pos("313")] == 0  # Titanic: not linked, so no award known
    foreign, main, known = part.outside_main_language()
    assert foreign[pos("14")] and foreign[pos("242")] and not foreign[pos("50")]  # Il Postino, Kolya; Star Wars
    assert 100 < foreign.sum() < 200 and main / known.sum() > 0.9 and shipped.outside_main_language() is None
    state = UserState(None, np.array([pos("50")]), np.ones(1, np.float32), np.zeros(0, np.int64), True)
    scores = part.score_state(state, np.array([pos("181"), pos("1")]))
    assert scores[0] > scores[1]
    assert np.allclose(part.score_state(state, np.arange(len(ml_index.catalog))), part.similarity_[:, pos("50")], atol=1e-5)


def test_similar_items_more_like_star_wars(trained) -> None:
    ranker = trained[0]
    similar = ranker.similar_items("50", 10)
    assert len(similar) == 10 and "50" not in {i for i, _ in similar}
    assert {"172", "181"} & {i for i, _ in similar}, similar  # Empire Strikes Back, Return of the Jedi
    assert [s for _, s in similar] == sorted((s for _, s in similar), reverse=True)
    with pytest.raises(UnknownItemError):
        ranker.similar_items("no-such-item", 5)


def test_bad_input_is_handled(trained) -> None:
    ranker = trained[0]
    cands = [(str(i), 0.0) for i in range(1, 60)]
    # unknown user id and unknown liked/disliked ids: ignored, the rest still counts
    state, ignored = ranker.resolve(UserProfile("no-such-user", liked={"50": 1.0, "zzz": 1.0}, disliked={"yyy"}))
    assert state.row is None and sorted(ignored) == ["yyy", "zzz"] and len(state.items) == 1
    assert len(ranker.rank(UserProfile("no-such-user", liked={"zzz": 1.0}), cands)) == 59
    # nobody and nothing: popularity and the request decide, no crash
    ranked = ranker.rank(UserProfile(), cands)
    assert len(ranked) == 59 and all(np.isfinite(r.score) for r in ranked)
    assert ranker.rank(UserProfile(), []) == []
    # a disliked candidate goes last, marked
    ranked = ranker.rank(UserProfile("196", disliked={"1"}), cands)
    assert ranked[-1].item_id == "1" and ranked[-1].evidence[0]["kind"] == "disliked"
    with pytest.raises(ConvrecError, match="positive number"):
        ranker.rank(UserProfile(None, liked={"50": -1.0}), cands)


def test_scoring_100_candidates_is_fast(ml_index, trained) -> None:
    ranker = trained[0]
    cands = [(it.id, 0.5) for it in ml_index.catalog.items[200:300]]
    profile = UserProfile("196", liked={"50": 1.0, "181": 1.0})
    ranker.rank(profile, cands)
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        ranker.rank(profile, cands)
        times.append(time.perf_counter() - t0)
    # The target is 5 ms (bench/ranking.py measures it); here a loose bound for a busy CI machine.
    assert float(np.median(times)) < 0.1


def test_untrained_fallback_and_missing_models(ml_index) -> None:
    fallback = untrained_ranker(ml_index)
    # the knowledge graph needs no training: there for its reasons, at weight 0
    assert set(fallback.parts) == {"profile", "popularity", "kg"} and fallback.weights["short"].parts["kg"] == 0
    ranked = fallback.rank(UserProfile(None, liked={"50": 1.0}), [("172", 0.5), ("1", 0.5)])
    assert [r.item_id for r in ranked] == ["172", "1"]
    assert {"kind": "kg", "relation": "same_series", "liked_item": "50"}.items() <= next(
        e for e in ranked[0].evidence if e["kind"] == "kg").items()
    assert fallback.related_items("100", "directed_by")  # "by the director of Fargo" before any training
    with pytest.raises(ConvrecError, match="not trained"):
        load_ranker(ml_index, "regmf")
    with pytest.raises(ConvrecError, match="Unknown model"):
        train(ml_index, "no-such-model")
    with pytest.raises(ConvrecError, match="not allowed"):
        load_ranker(ml_index, "../etc")


def test_a_failed_save_keeps_the_last_good_model(ml_index, trained) -> None:
    from convrec.ranking.store import save_atomic

    ranker, path, _ = trained
    before = (path / "ranker.json").read_text()

    def crash_halfway(tmp):  # the new model is half written when the process dies
        tmp.mkdir(parents=True)
        (tmp / "ranker.json").write_text("{half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        save_atomic(path, crash_halfway)
    assert (path / "ranker.json").read_text() == before
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "no temporary folder left"
    assert load_ranker(ml_index).weights == ranker.weights


def test_item_quality_shrinks_few_ratings_and_needs_ratings() -> None:
    from convrec.ranking.quality import ItemQuality
    from convrec.retrieval.catalog import Interactions

    # "a": two 5s; "b": forty 4.5-ish ratings; "c": many 2s. m = median count = 40.
    users = [f"u{k}" for k in range(2)] + [f"v{k}" for k in range(40)] + [f"w{k}" for k in range(60)]
    items = ["a"] * 2 + ["b"] * 40 + ["c"] * 60
    values = [5.0] * 2 + [4.0, 5.0] * 20 + [2.0] * 60
    q = ItemQuality.from_interactions(Interactions.from_records(users, items, values))
    assert q is not None and q.prior_strength == 40 and q.mean["a"] == 5.0
    assert q.of("b") > q.of("a") > q.of("c")  # two perfect ratings do not beat forty good ones
    assert q.of("unknown") == q.prior_mean and q.evidence("unknown") is None
    assert q.evidence("b") == {"kind": "rated", "mean": 4.5, "ratings": 40}
    assert ItemQuality.from_interactions(Interactions.from_records(users, items)) is None  # implicit: no ratings


def test_knowledge_graph_counts_every_award_and_keeps_the_counts(tmp_path) -> None:
    """Awards are counted per film from every triple, shared or not (a feature needs two films),
    once per distinct award; the counts survive save and load, and a graph saved before they
    were kept loads without them."""
    import pandas as pd

    from convrec.ranking.paradigms.kg import KnowledgeGraph

    rows = [("e1", "film.film.award_won", "oscar"), ("e1", "film.film.award_won", "bafta"),
            ("e1", "film.film.award_won", "bafta"), ("e2", "film.film.award_won", "oscar"),
            ("e2", "film.film.award_nomination", "globe"), ("e1", "film.film.directed_by", "d"),
            ("e2", "film.film.directed_by", "d")]
    triples = pd.DataFrame(rows, columns=["head", "relation", "tail"])
    links = pd.DataFrame({"item": ["1", "2"], "entity": ["e1", "e2"]})
    kg = KnowledgeGraph.from_triples(triples, links, ["1", "2", "3"])
    assert kg.counts["award_won"].tolist() == [2, 1, 0] and kg.counts["award_nomination"].tolist() == [0, 1, 0]
    kg.save(tmp_path / "g")
    assert KnowledgeGraph.load(tmp_path / "g").counts["award_won"].tolist() == [2, 1, 0]
    (tmp_path / "g" / "kg_counts.npz").unlink()
    assert KnowledgeGraph.load(tmp_path / "g").counts == {}


def test_item_renown_splits_the_long_tail_at_half_the_interactions() -> None:
    from convrec.ranking.quality import ItemRenown
    from convrec.retrieval.catalog import Interactions

    # 100 interactions: "a" 40, "b" 20, then ten items with 4 each; half of all is reached at "b"
    items = ["a"] * 40 + ["b"] * 20 + [f"t{k}" for k in range(10) for _ in range(4)]
    users = [f"u{k % 50}" for k in range(len(items))]
    renown = ItemRenown.from_interactions(Interactions.from_records(users, items))  # implicit feedback will do
    assert renown is not None and renown.well_known == {"a", "b"} and renown.min_count == 20 and renown.people == 50
    assert renown.lesser_known("t3") and renown.lesser_known("never-seen") and not renown.lesser_known("a")
    assert ItemRenown.from_interactions(Interactions.empty()) is None


def test_one_saved_semantic_weight_serves_both_buckets(ml_index, trained, tmp_path) -> None:
    """A ranker saved before the per-bucket fit holds one number; it loads for both buckets, and a
    per-bucket weight changes only its own bucket's ranking."""
    ranker, path, _ = trained
    spec = json.loads((path / "ranker.json").read_text())
    spec["semantic_weight"] = 2.0
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "ranker.json").write_text(json.dumps(spec))
    (folder / "parts").symlink_to(path / "parts", target_is_directory=True)
    old = HybridRanker.load(folder, ranker.data)
    assert old.semantic_weights == {"short": 2.0, "long": 2.0} and old.semantic_weight == 2.0
    cands = [(it.id, float(k % 7)) for k, it in enumerate(ml_index.catalog.items[:60])]
    new_person, known = UserProfile(None, liked={"50": 1.0}), UserProfile("196")
    before = [[r.item_id for r in old.rank(p, cands)] for p in (new_person, known)]
    old.semantic_weights["short"] = 40.0
    after = [[r.item_id for r in old.rank(p, cands)] for p in (new_person, known)]
    assert after[0] != before[0] and after[1] == before[1]
    assert old.semantic_weight == {"short": 40.0, "long": 2.0}


def test_facet_company_reads_a_genre_from_an_items_neighbours() -> None:
    """An item tagged with several genres is of the one its CF neighbours share: two clusters of
    factors, the first sci-fi (item 0 tagged Romance too), the second romance."""
    from convrec.ranking.quality import FacetCompany

    rng = np.random.default_rng(0)
    factors = np.vstack([np.array([1.0, 0.0]) + 0.01 * rng.standard_normal((40, 2)),
                         np.array([0.0, 1.0]) + 0.01 * rng.standard_normal((40, 2)), np.zeros((1, 2))])
    units = factors / np.maximum(np.linalg.norm(factors, axis=1, keepdims=True), 1e-9)
    ids = [str(i) for i in range(80)] + ["cold"]
    tags = {"0": ("Sci-Fi", "Romance"), "cold": ("Romance", "Comedy")}
    company = FacetCompany.from_factors(ids, units, np.array([True] * 80 + [False]),
                                        lambda i: tags.get(i, ("Sci-Fi",) if i != "cold" and int(i) < 40 else ("Romance",)))
    assert company is not None
    assert company.of("0", {"Sci-Fi"}) == 1.0 and company.of("0", {"Romance"}) == 0.0  # tagged, but not of it
    assert company.of("50", {"Romance"}) == 1.0 and company.of("50", {"Sci-Fi", "Romance"}) == 1.0
    assert company.of("50", {"Sci-Fi", "Romance"}, every=True) == 0.5
    romance = company.values.index("Romance")
    assert company.of("cold", {"Romance"}) == pytest.approx(company.share[:80, romance].mean())  # no factors: the mean
    assert company.of("nope", {"Romance"}) == 0.0
    assert FacetCompany.from_factors(ids[:10], units[:10], np.ones(10, bool), lambda i: ("Sci-Fi",)) is None


def test_a_genre_asked_for_is_what_the_picks_are_mostly(ml_settings, trained, tmp_path) -> None:
    """MovieLens tags Star Wars Romance and War as well as Sci-Fi; popularity put it and its
    sequels first for a newcomer's "a romance". By the company each film keeps in the trained
    factors, romances lead, and Star Wars stays among the first sci-fi."""
    from convrec.agent.sessions import SessionStore
    from convrec.agent.turn import Agent

    agent = Agent(ml_settings, llm=None, sessions=SessionStore(tmp_path / "s.sqlite"))
    assert agent.scene().company() is not None
    romance = agent.chat(agent.new_session(), "a romance")
    assert romance.items[0].title not in {"Star Wars", "Return of the Jedi", "The Empire Strikes Back"}
    assert all("Romance" in i.facts["genres"] for i in romance.items)
    assert "Star Wars" in {i.title for i in agent.chat(agent.new_session(), "a sci-fi movie").items[:3]}
