"""Splitting a message that asks for several lists (`convrec.agent.groups`): which messages split,
and what the parts share."""

from __future__ import annotations

import pytest

from types import SimpleNamespace

from convrec.agent.groups import aimed_at, split_message, share
from convrec.agent.preferences import ItemRef, Preferences
from convrec.retrieval.filters import NumericRange


@pytest.mark.parametrize(
    ("message", "parts"),
    [
        ("3 action movies from the 80s and 2 comedies from the 90s",
         [("action movies from the 80s", 3), ("comedies from the 90s", 2)]),
        ("Can you recommend two comedies and a drama?", [("comedies", 2), ("drama", 1)]),
        ("give me 3 comedies, 2 dramas and a horror film", [("comedies", 3), ("dramas", 2), ("horror film", 1)]),
        ("one horror film plus one comedy", [("horror film", 1), ("comedy", 1)]),
        ("a couple of thrillers and 2 westerns", [("thrillers", 2), ("westerns", 2)]),
        ("I'd like 2 films like Sense and Sensibility and 3 like Heat",
         [("films like Sense and Sensibility", 2), ("like Heat", 3)]),
    ],
)
def test_counted_parts_split(message: str, parts: list[tuple[str, int]]) -> None:
    got = split_message(message)
    assert got is not None and [(p.text, p.count) for p in got] == parts


@pytest.mark.parametrize(
    "message",
    [
        "a comedy and a drama",  # no number: one wish for both genres
        "3 action movies and 2 more",
        "2 or 3 comedies",
        "I want a movie for 2 people and a dog",
        "one of them and two of those",
        "comedies from the 80s and 90s",
        "show me 10",
        "3 comedies",
        "a comedy, a drama, a western, a thriller and 2 horror films",  # more than 4 lists
        "50 comedies and 2 dramas",
    ],
)
def test_other_messages_do_not_split(message: str) -> None:
    assert split_message(message) is None


@pytest.mark.parametrize(
    ("message", "parts"),
    [
        ("some comedies and some action movies", [("comedies", 3), ("action movies", 2)]),
        ("half comedies, half dramas", [("comedies", 3), ("dramas", 2)]),
        ("half westerns half comedies", [("westerns", 3), ("comedies", 2)]),
        ("a mix of comedies and dramas from the 90s", [("comedies", 3), ("dramas from the 90s", 2)]),
        ("show me some comedies, some dramas and some westerns", [("comedies", 2), ("dramas", 2), ("westerns", 1)]),
        ("10 movies, half comedies and half dramas", [("comedies", 5), ("dramas", 5)]),
        ("6 films: some westerns and some comedies", [("westerns", 3), ("comedies", 3)]),
        # what follows the shares is said of the last, and `share` gives refusals to all
        ("some comedies and some dramas, nothing violent", [("comedies", 3), ("dramas, nothing violent", 2)]),
    ],
)
def test_shares_said_without_numbers_split_one_list_evenly(message: str, parts: list[tuple[str, int]]) -> None:
    got = split_message(message)
    assert got is not None and [(p.text, p.count) for p in got] == parts


def test_shares_split_the_length_asked_before() -> None:
    """After "show me 10", "some westerns and some comedies" are five of each."""
    got = split_message("some westerns and some comedies", total=10)
    assert got is not None and [p.count for p in got] == [5, 5]


@pytest.mark.parametrize(
    "message",
    [
        "a mix of comedy and drama",  # one film that is both
        "half comedy, half drama",
        "some comedies about half an hour",
        "some of them and some of those",
        "some more",
        "some comedies",
        "I want something funny and something sad",
        "half comedies, half dramas, half westerns",
    ],
)
def test_one_kind_or_one_share_does_not_split(message: str) -> None:
    assert split_message(message) is None


def _prefs(genre: str | None = None, years: tuple[float, float] | None = None, **extra) -> Preferences:
    p = Preferences(**extra)
    if genre:
        p.add_include("genres", [genre], "all", evidence=genre.lower())
    if years:
        p.set_range("year", NumericRange(low=years[0], high=years[1]), evidence="the 80s")
    return p


def test_a_part_takes_what_it_leaves_unsaid_from_its_neighbour() -> None:
    """"3 action movies from the 80s and 2 from the 90s": the second are action movies too;
    "2 comedies and a drama from the 70s": the comedies are from the 70s too."""
    first, second = share([_prefs("Action", (1980, 1989)), _prefs(None, (1990, 1999))])
    assert second.include_all == {"genres": ["Action"]} and second.ranges["year"].low == 1990
    assert first.ranges["year"].high == 1989
    comedies, drama = share([_prefs("Comedy"), _prefs("Drama", (1970, 1979))])
    assert comedies.ranges["year"] == NumericRange(low=1970, high=1979) and drama.include_all == {"genres": ["Drama"]}


def test_a_refusal_anywhere_holds_for_every_part() -> None:
    refusing = _prefs("Western")
    refusing.add_exclude("genres", ["Horror"], evidence="no horror")
    first, second = share([_prefs("Thriller"), refusing])
    assert first.exclude == {"genres": ["Horror"]} and first.evidence["exclude:genres:Horror"] == "no horror"


def test_parts_that_name_nothing_or_the_same_are_no_split() -> None:
    assert share([_prefs("Comedy"), _prefs()]) is None  # "2 comedies and 3 for my wife"
    assert share([_prefs("Comedy"), _prefs("Comedy")]) is None
    assert share([_prefs("Comedy"), _prefs("Drama", liked=[ItemRef(ordinal=2)])]) is None  # feedback is no list
    assert share([_prefs("Comedy")]) is None


def test_an_order_said_of_one_part_holds_for_every_part() -> None:
    """"3 westerns and 2 comedies, oldest first": two lists, each oldest first; before, the order
    words (an act) made the message one list of Western comedies."""
    ordered = _prefs("Comedy")
    ordered.acts, ordered.order = ["reorder_shown"], "year:asc"
    first, second = share([_prefs("Western"), ordered])
    assert first.order == second.order == "year:asc"


def test_a_message_naming_one_part_is_aimed_at_it() -> None:
    """After "3 westerns and 2 comedies": "make the comedies from the 90s" changes the comedies
    alone, "only the comedies" keeps them alone, "no westerns" keeps the rest; a wish no part owns
    ("now a horror movie") and a bare refinement go to every part."""
    groups = [SimpleNamespace(state=_prefs("Western")), SimpleNamespace(state=_prefs("Comedy"))]
    aim = aimed_at(_prefs("Comedy", (1990, 1999), replace=True), groups)
    assert aim is not None and (aim.keep, aim.target) == ([0, 1], 1)
    assert not aim.prefs.include_all and aim.prefs.ranges["year"].low == 1990 and not aim.prefs.replace
    alone = aimed_at(_prefs("Comedy"), groups)
    assert alone is not None and (alone.keep, alone.target) == ([1], 1)
    refused = Preferences()
    refused.add_exclude("genres", ["Western"], evidence="no westerns")
    rest = aimed_at(refused, groups)
    assert rest is not None and (rest.keep, rest.target) == ([1], None)
    assert aimed_at(_prefs("Horror"), groups) is None and aimed_at(_prefs(None, (1990, 1999)), groups) is None
    assert aimed_at(_prefs("Comedy", (1990, 1999)), groups[:1]) is None
