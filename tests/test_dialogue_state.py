"""Multi-turn dialogue state: refinements, references to shown items, persistence, relaxation."""

from __future__ import annotations

import pytest

from convrec.agent.preferences import Preferences
from convrec.agent.rules import RuleParser
from convrec.agent.state import DialogueState
from convrec.retrieval.filters import NumericRange
from convrec.retrieval.loaders import load_catalog

SHOWN_SCIFI = ["50", "183", "89", "258", "257"]  # Star Wars, Alien, Blade Runner, Contact, Men in Black


@pytest.fixture(scope="module")
def movielens(tmp_path_factory: pytest.TempPathFactory):
    return load_catalog("movielens", tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def rules(movielens) -> RuleParser:
    return RuleParser(movielens.schema, {i.id: i.title for i in movielens}, catalog="movielens")


def talk(rules: RuleParser, movielens, *turns: str | tuple[str, list[str]]) -> DialogueState:
    """Play turns through a fresh state; a (text, shown) pair records what was shown after it."""
    state = DialogueState()
    for turn in turns:
        text, shown = (turn, None) if isinstance(turn, str) else turn
        state.apply(rules.parse(text), movielens)
        if shown:
            state.record_shown(shown)
    return state


def test_override_and_accumulate(rules, movielens) -> None:
    s = talk(rules, movielens, "action movies from the 90s", "actually, no action — drama")
    assert s.include_all == {"genres": ["Drama"]} and s.exclude == {"genres": ["Action"]}
    assert s.ranges == {"year": NumericRange(low=1990, high=1999)}
    s = talk(rules, movielens, "comedies from the 90s", "make it 80s instead")
    assert s.ranges == {"year": NumericRange(low=1980, high=1989)} and s.include_all == {"genres": ["Comedy"]}
    s = talk(rules, movielens, "90s thrillers", "with some crime", "after 1995")
    assert s.include_all == {"genres": ["Thriller", "Crime"]}
    assert s.ranges == {"year": NumericRange(low=1996, high=1999)}  # narrowed, not replaced
    s = talk(rules, movielens, "westerns", "what about war movies?")
    assert s.include_all == {"genres": ["War"]}


def test_what_a_turn_changed_is_said_in_sentences(rules, movielens) -> None:
    # the notes open the reply, so they read as sentences ("replaced genres Thriller" did not)
    def notes(*turns: str) -> list[str]:
        state = talk(rules, movielens, *turns[:-1])
        return state.apply(rules.parse(turns[-1]), movielens).notes

    assert notes("a thriller", "actually make it a comedy") == ["Replaced Thriller with Comedy."]
    assert notes("a comedy from the 90s", "the 80s instead") == ["Replaced 1990–1999 with 1980–1989."]
    assert notes("a comedy", "start over") == ["Started over."]
    assert notes("a comedy", "less silly") == ["Kept Comedy, only less silly."]


def test_permission_and_withdrawal(rules, movielens) -> None:
    s = talk(rules, movielens, "nothing violent", "ok, some action is fine")
    assert s.exclude == {"genres": ["Crime", "Horror", "War"]} and not s.include_all
    s = talk(rules, movielens, "horror from the 80s", "forget the horror, make it a comedy")
    assert s.include_all == {"genres": ["Comedy"]} and not s.exclude


def test_less_of_a_wanted_mood_keeps_the_wish(rules, movielens) -> None:
    # "less silly" after "a comedy" asks for a milder comedy, not for no comedy
    s = talk(rules, movielens, "a comedy from the 90s", "less silly")
    assert s.include_all == {"genres": ["Comedy"]} and not s.exclude and "silly" in s.avoid
    s = talk(rules, movielens, "an action movie", "not too violent")
    assert s.include_all == {"genres": ["Action"]} and s.exclude == {"genres": ["Crime", "Horror", "War"]}
    # said firmly, or with nothing wanted yet, a refusal still excludes
    assert talk(rules, movielens, "a comedy", "nothing funny").exclude == {"genres": ["Comedy"]}
    assert talk(rules, movielens, "a comedy", "less comedy").exclude == {"genres": ["Comedy"]}
    assert talk(rules, movielens, "less violent").exclude == {"genres": ["Action", "Crime", "Horror", "War"]}


def test_asking_for_the_best_lasts_until_starting_over(rules, movielens) -> None:
    s = talk(rules, movielens, "the best dramas", "from the 90s")
    assert s.request().quality and s.include_all == {"genres": ["Drama"]}
    assert not talk(rules, movielens, "the best dramas", "start over. a western").request().quality


def test_older_and_newer(rules, movielens) -> None:
    assert talk(rules, movielens, "sci-fi from the 90s", "older").ranges["year"] == NumericRange(low=1980, high=1989)
    assert talk(rules, movielens, "a drama from the 50s", "newer").ranges["year"] == NumericRange(low=1960, high=1969)
    # no range yet: below the median year of what was shown (Die Hard 1988 … Con Air 1997 → 1995)
    s = talk(rules, movielens, ("action movies", ["144", "568", "2", "1016", "117"]), "something older")
    assert s.ranges["year"] == NumericRange(high=1994)
    # nothing to move from: the lexicon's "old"
    assert talk(rules, movielens, "older films").ranges["year"] == NumericRange(high=1979)
    # a range in the same message says how far "older" goes: the 80s, not the 70s
    for first in ("a comedy", "a comedy from the 90s"):
        s = talk(rules, movielens, first, "something older, maybe 80s")
        assert s.ranges["year"] == NumericRange(low=1980, high=1989)


def test_a_titles_year_as_a_bound(rules, movielens) -> None:
    # "after Star Wars" was War plus the word "star"; "newer than Toy Story" moved by a decade
    s = talk(rules, movielens, "a sci-fi movie that came out after Star Wars")
    assert s.include_all == {"genres": ["Sci-Fi"]} and s.ranges["year"] == NumericRange(low=1978) and not s.query
    assert talk(rules, movielens, "something older than Titanic").ranges["year"] == NumericRange(high=1996)
    s = talk(rules, movielens, "a comedy from the 80s", "newer than Back to the Future")  # within the 80s
    assert s.ranges["year"] == NumericRange(low=1986, high=1989)
    assert talk(rules, movielens, "a horror film made after Scream in the 90s").ranges["year"] == NumericRange(low=1997, high=1999)
    assert talk(rules, movielens, "comedies after the 90s").ranges["year"] == NumericRange(low=2000)  # a decade, as before
    s = talk(rules, movielens, "something like Before and After")  # a title that starts with the cue
    assert s.similar_to == ["1284"] and not s.ranges


@pytest.mark.parametrize(("first", "then", "expected"), [
    ("crime films from 1994", "what about the year before?", (1993, 1993)),
    ("crime films from 1994", "and one year later", (1995, 1995)),
    ("crime films from 1994", "the decade before", (1980, 1989)),
    ("a drama from the 70s", "the next decade", (1980, 1989)),
    ("a drama from the 70s", "the following year", (1980, 1980)),
    ("a drama from the 70s", "the previous year", (1969, 1969)),
])
def test_the_year_or_decade_next_to_the_window(rules, movielens, first, then, expected) -> None:
    # a named span ("year", "decade": the lexicon's spans for the year facet) next to the window
    low, high = expected
    assert talk(rules, movielens, first, then).ranges["year"] == NumericRange(low=low, high=high)


def test_references_to_what_was_shown(rules, movielens) -> None:
    s = talk(rules, movielens, ("sci-fi movies", SHOWN_SCIFI), "more like the second one")
    assert s.similar_to == ["183"]
    assert "183" in s.request().filters.exclude_ids  # the anchor itself is not recommended
    s = talk(rules, movielens, ("sci-fi movies", SHOWN_SCIFI), "not that one")
    assert s.rejected == ["50"]
    s = talk(rules, movielens, ("sci-fi movies", SHOWN_SCIFI), "#3 looks great")
    assert s.liked == ["89"]
    s = talk(rules, movielens, ("sci-fi movies", SHOWN_SCIFI), "none of these")
    assert s.rejected == SHOWN_SCIFI and s.acts == ["something_else"]
    s = talk(rules, movielens, "I love Casablanca. More like that")
    assert s.liked == ["483"] and s.similar_to == ["483"]
    # "that" is the item the message singled out by position, not the top of the list
    s = talk(rules, movielens, ("sci-fi movies", SHOWN_SCIFI), "the third one sounds good, more like that")
    assert s.liked == ["89"] and s.similar_to == ["89"]
    # ... and in the next message, after a new list: what that message singled out and liked
    new_list = ["1", "2", "3", "4", "5"]
    s = talk(rules, movielens, ("sci-fi movies", SHOWN_SCIFI), ("the third one looks good", new_list), "more like it")
    assert s.similar_to == ["89"]
    s = talk(rules, movielens, ("I love Casablanca", new_list), "more like that")
    assert s.similar_to == ["483"]
    # only for one message, only for a wish; a refusal means the new list's top
    s = talk(rules, movielens, ("sci-fi movies", SHOWN_SCIFI), ("the third one looks good", new_list), "not that one")
    assert s.rejected == ["1"]
    s = talk(rules, movielens, ("sci-fi movies", SHOWN_SCIFI), ("the third one looks good", new_list),
             ("a comedy", ["7", "8"]), "more like it")
    assert s.similar_to == ["7"]
    # singled out without liking it ("not the third one"): the new top
    s = talk(rules, movielens, ("sci-fi movies", SHOWN_SCIFI), ("not the third one", new_list), "more like that")
    assert s.similar_to == ["1"]


def test_kids_join_the_wish_and_something_completely_different(rules, movielens) -> None:
    s = talk(rules, movielens, "a comedy", "my kids are 5 and 8")
    assert s.include_all == {"genres": ["Comedy", "Children's"]}  # was "Replaced Comedy with Children's"
    s = talk(rules, movielens, ("a comedy", SHOWN_SCIFI), "I hated the last list")
    assert s.rejected == SHOWN_SCIFI and s.include_all == {"genres": ["Comedy"]}
    # starting over for something completely different shows none of what was shown again
    s = talk(rules, movielens, ("a comedy", SHOWN_SCIFI), "something completely different")
    assert not s.include_all and set(SHOWN_SCIFI) <= set(s.request().filters.exclude_ids)
    s = talk(rules, movielens, ("a comedy", SHOWN_SCIFI), "not #2", "start over")
    assert s.rejected == ["183"] and not s.shown  # a refused item stays refused; a plain start over shows again


def test_unresolvable_reference_is_reported(rules) -> None:
    s = DialogueState()
    s.record_shown(["1", "2"])
    change = s.apply(rules.parse("more like #7"))
    assert s.similar_to == [] and change.unresolved == ["#7"]


def test_shown_items_are_not_repeated_unless_asked(rules, movielens) -> None:
    s = talk(rules, movielens, ("sci-fi movies", SHOWN_SCIFI), "something else")
    assert set(SHOWN_SCIFI) <= set(s.request().filters.exclude_ids)
    s.apply(rules.parse("show them again"))
    assert not set(SHOWN_SCIFI) & set(s.request().filters.exclude_ids)
    s.apply(rules.parse("from the 80s"))  # asking again holds for one turn only
    assert set(SHOWN_SCIFI) <= set(s.request().filters.exclude_ids)


def test_start_over_and_undo(rules, movielens) -> None:
    s = talk(rules, movielens, ("horror movies", ["288", "200"]), "I loved Fargo", "start over. I want a comedy")
    assert s.include_all == {"genres": ["Comedy"]} and s.shown == [] and s.acts == ["reset"]
    assert s.liked == ["100"]  # taste feedback survives a new search
    s = talk(rules, movielens, "westerns", "from the 60s", "scratch that")
    assert s.include_all == {"genres": ["Western"]} and s.ranges == {}


def test_request_maps_to_search_filters(rules, movielens) -> None:
    s = talk(rules, movielens, ("a funny sci-fi movie from the 80s, nothing too violent", ["257"]), "not Titanic")
    req = s.request()
    f = req.filters
    assert f.include_all == {"genres": ["Comedy", "Sci-Fi"]}
    assert f.exclude == {"genres": ["Action", "Crime", "Horror", "War"]}
    assert f.ranges == {"year": NumericRange(low=1980, high=1989)}
    assert set(f.exclude_ids) == {"257", "313"}
    assert f.normalized(movielens.schema) == f  # every value exists in the catalog
    hits = [item for item in movielens if f.matches(item)]
    assert hits and all(1980 <= item.numeric["year"] <= 1989 for item in hits)
    assert not {"257", "313"} & {item.id for item in hits}


def test_json_round_trip_keeps_everything(rules, movielens) -> None:
    s = talk(rules, movielens, ("sci-fi movies from the 90s, no horror", SHOWN_SCIFI), "more like #2 but older")
    text = s.to_json()
    back = DialogueState.from_json(text)
    assert back == s
    assert back.request() == s.request()
    assert back.relaxations() == s.relaxations()
    # and the restored state goes on working: undo returns to the first turn
    back.apply(rules.parse("undo"))
    assert back.ranges == {"year": NumericRange(low=1990, high=1999)} and back.similar_to == []


def test_relaxation_order_softest_first(rules, movielens) -> None:
    s = talk(rules, movielens, ("sci-fi from the 90s, nothing violent", ["50"]), "something funny")
    keys = [c.key for c in s.relaxations()]
    # "funny" replaced the sci-fi wish; a synonym-derived wish goes first, the named range next,
    # then re-showing seen items, and the exclusions ("nothing violent") last
    assert keys[0] == "include:genres:Comedy"
    assert keys.index("range:year") < keys.index("unseen") < keys.index("exclude:genres:Action")
    assert all(k.startswith("exclude:") for k in keys[-4:])
    s = talk(rules, movielens, "90s sci-fi comedies")
    assert [c.key for c in s.relaxations()] == ["range:year", "include:genres:Sci-Fi", "include:genres:Comedy"]


def test_a_wish_the_lexicon_keeps_till_last(rules, movielens) -> None:
    """'for kids' is a synonym (a soft wish), but the lexicon keeps Children's till last: after
    the films already seen, before the refusals."""
    s = talk(rules, movielens, ("a horror film for kids, nothing violent", ["50"]))
    assert [c.key for c in s.relaxations()][0] == "include:genres:Children's"  # softest by wording alone
    keys = [c.key for c in s.relaxations(rules.lexicon.last_to_drop)]
    assert keys[0] == "include:genres:Horror"
    assert keys.index("unseen") < keys.index("include:genres:Children's") < keys.index("exclude:genres:Action")
    assert rules.lexicon.last_to_drop == {"genres": {"Children's"}}


def test_relax_drops_one_constraint_and_says_which(rules, movielens) -> None:
    s = talk(rules, movielens, "a western from the 90s, no comedy")
    softest = s.relaxations()[0]
    assert softest.key == "range:year" and softest.describe() == "year 1990–1999"
    req = s.request(drop=[softest.key])
    assert req.filters.ranges == {} and req.dropped[0].key == "range:year"
    assert s.ranges  # request() does not change the state
    s.drop(softest.key)
    assert s.ranges == {} and [c.key for c in s.relaxations()] == ["include:genres:Western", "exclude:genres:Comedy"]


def test_empty_preferences_change_nothing() -> None:
    s = DialogueState()
    s.apply(Preferences())
    assert s.request().filters.is_empty() and s.turn == 1


def test_a_span_refused_in_the_middle_of_the_years(rules, movielens) -> None:
    s = talk(rules, movielens, "a comedy, but nothing from the 70s")
    seventies = NumericRange(low=1970, high=1979)
    assert s.filters().exclude_ranges == {"year": [seventies]} and s.include_all == {"genres": ["Comedy"]}
    assert [c.key for c in s.constraints() if c.kind == "exclude_range"] == ["not_range:year:1970-1979"]
    s.drop("not_range:year:1970-1979")
    assert not s.exclude_ranges and not s.filters().exclude_ranges
    # a later wish for the span lifts the refusal; a later refusal of the wished span replaces it
    s = talk(rules, movielens, "a comedy, but nothing from the 70s", "OK, the 70s then")
    assert s.ranges == {"year": seventies} and not s.exclude_ranges
    s = talk(rules, movielens, "movies from the 80s", "nothing from the 80s")
    assert not s.ranges and s.exclude_ranges == {"year": [NumericRange(low=1980, high=1989)]}
    # a refusal at either end of the catalog's years stays a bound
    s = talk(rules, movielens, "nothing from the 90s")
    assert s.ranges == {"year": NumericRange(high=1989)} and not s.exclude_ranges


def test_letting_go_of_years_and_widening_them(rules, movielens) -> None:
    s = talk(rules, movielens, "a comedy from the 80s", "actually drop the 80s")
    assert not s.ranges and s.include_all == {"genres": ["Comedy"]}  # the decade was set again before
    s = talk(rules, movielens, "a drama from the 90s", "any year is fine")
    assert not s.ranges
    s = talk(rules, movielens, "a drama from the 90s", "I don't mind the 80s")
    assert s.ranges == {"year": NumericRange(low=1980, high=1999)}
    s = talk(rules, movielens, "a comedy but nothing from the 70s", "the 70s are fine")
    assert not s.exclude_ranges and not s.ranges  # welcome again, not required
    s = talk(rules, movielens, "a drama from the 90s", "forget the year limit")
    assert not s.ranges


@pytest.mark.parametrize("follow_up", ["with sharks", "but with sharks", "ok, with sharks", "preferably with sharks"])
def test_a_reply_opening_with_with_adds_its_words(rules, movielens, follow_up) -> None:
    # Before, "with sharks" replaced the ocean: Swimming with Sharks, then crowd favourites.
    assert talk(rules, movielens, "a movie about the ocean", follow_up).query == "ocean sharks"
    assert talk(rules, movielens, "a movie about the ocean", "sharks").query == "sharks"  # a new subject replaces
    s = talk(rules, movielens, "a comedy about the ocean", "with some romance")
    assert s.include_all == {"genres": ["Comedy", "Romance"]} and s.query == "ocean"


def test_habit_and_time_fillers_are_no_search_words(rules) -> None:
    # "usually" matched The Usual Suspects by its title; "ago" was searched for.
    assert not rules.parse("something different from what I usually watch").query
    assert not rules.parse("not so long ago, 80s maybe").query
    # contractions split into "haven t": the stem was searched for ("To Have, or Not" fit 'haven')
    assert not rules.parse("only ones I haven't seen").query and not rules.parse("ones I havent watched").query
    assert rules.parse("something like the usual suspects").similar_to  # the title itself still resolves


def test_more_like_it_after_a_list_keeps_the_film_the_person_named(rules, movielens) -> None:
    """"The godfather" → a list → "anything else like it?": The Godfather still (before, the list's
    first: The Godfather: Part II), while "more like #3" names its own."""
    godfather = next(i.id for i in movielens if i.title == "The Godfather")
    s = talk(rules, movielens, ("the godfather", ["1", "2", "3"]), "anything else like it?")
    assert s.similar_to == [godfather]
    s = talk(rules, movielens, ("the godfather", ["1", "2", "3"]), "more like #3")
    assert s.similar_to == ["3"]


@pytest.mark.parametrize("either", ["either is fine", "one or the other", "only one of those genres is fine", "either"])
def test_either_turns_both_at_once_into_any(rules, movielens, either) -> None:
    """"My dad loves westerns and war films" wants both at once (one film here); "either is fine"
    then takes any of them. Before, "either" was no act and "only one of those genres is fine"
    asked for one pick."""
    s = talk(rules, movielens, "a movie for my dad who loves westerns and war films", either)
    assert s.include_any == {"genres": ["Western", "War"]} and not s.include_all.get("genres")
    assert rules.parse("neither horror nor thriller").acts == []


def test_both_years_brings_back_what_the_last_change_replaced(rules, movielens) -> None:
    """"Films from 1994" → "and 1995?" → "both years" is 1994–1995; "a comedy" → "actually a
    drama" → "either is fine" is Comedy or Drama. Before, "years" was searched and 1995 stayed."""
    s = talk(rules, movielens, "the best movies of 1994", "and 1995?", "both years")
    assert s.ranges == {"year": NumericRange(low=1994, high=1995)}
    s = talk(rules, movielens, "a comedy", "actually a drama", "either is fine")
    assert s.include_any == {"genres": ["Drama", "Comedy"]} and not s.include_all.get("genres")


def test_like_a_film_but_not_the_film_keeps_the_reference(rules, movielens) -> None:
    s = talk(rules, movielens, "something like Star Wars but not Star Wars")
    assert s.similar_to == ["50"] and s.rejected == ["50"]
    s = talk(rules, movielens, "something like Alien", "not Alien")
    assert s.similar_to == [] and s.rejected == ["183"]  # a later refusal still lets go of it


def test_a_reference_let_go_is_not_offered(rules, movielens) -> None:
    """"Like Toy Story and Aladdin" → "just Aladdin": Toy Story is one the person knows, not a pick
    (before, it came first on the next list)."""
    s = talk(rules, movielens, "something like Toy Story and Aladdin", "just Aladdin")
    assert s.similar_to == ["95"] and "1" in s.request().filters.exclude_ids
    s = talk(rules, movielens, "what's new?")
    assert s.ranges == {"year": NumericRange(low=1997, high=None)}
