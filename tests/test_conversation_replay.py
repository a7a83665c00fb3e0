"""Random conversations made of the messages the shipped suites say (and follow-ups that change a
split, compare, count or widen), replayed against the rules-only agent on the real index: no turn
raises, and every reply has text and only catalog items. A conversation no suite scripted crashed
once ("3 westerns and 2 comedies" → "now a horror movie"); this keeps such mixes coming."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from convrec.config import Settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
FOLLOW_UPS = [
    "3 westerns and 2 comedies", "2 dramas from the 80s and 2 comedies from the 90s", "now a horror movie",
    "make the comedies from the 90s", "only comedies", "no westerns", "either is fine", "both years",
    "compare #1 and #2", "which is better, #2 or #9?", "how many of those do you have?", "how many of them are comedies?",
    "more", "undo", "start over", "sort them by year", "top 3 of those", "the oldest one looks good, more like it",
    "tell me more", "why these?", "neither", "a western set in the 1800s", "",
    "swap #3 for something else", "swap out #2 and #4", "swap #9", "just the top five of them", "the best one?",
    "show me the Batman movies", "is Heat better than Casino?", "not Star Wars or any of its sequels",
    "I'll take #2", "#9 it is", "replace #2 with a comedy", "I've seen #3, swap it",
    "not #3", "seen 1 and 9", "too many dramas", "no foreign films", "what's the oldest movie you have?",
    "tell me about the oldest one", "sort by newest", "give me 100 movies", "the same year as Titanic",
    "less like the second", "none of those appeal", "no, Casino", "Jim Carrey movies",
    "some comedies and some action movies", "half westerns, half comedies", "a mix of comedies and dramas",
    "a drama from the same year as #2", "something from the same year", "the same era as #9", "the Alien franchise",
    "I've seen 500 movies, surprise me",
]
CONVERSATIONS = 150


def _messages() -> list[str]:
    said = set(FOLLOW_UPS)
    for path in sorted((ROOT / "eval").glob("*.yaml")):
        for dialogue in yaml.safe_load(path.read_text(encoding="utf-8"))["dialogues"]:
            said.update(t["say"] for t in dialogue["turns"] if isinstance(t.get("say"), str) and len(t["say"]) < 300)
    return sorted(said)


@pytest.fixture(scope="module")
def replay_agent(ml_settings: Settings, ml_index: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from convrec.agent.sessions import SessionStore
    from convrec.agent.turn import Agent

    return Agent(ml_settings, llm=None, sessions=SessionStore(tmp_path_factory.mktemp("replay") / "s.sqlite"))


def test_random_conversations_never_fail(replay_agent: Any) -> None:
    messages = _messages()
    catalog = replay_agent.scene().index.catalog
    rng = random.Random(25)
    for _ in range(CONVERSATIONS):
        said = [rng.choice(messages) for _ in range(rng.randint(2, 6))]
        sid = replay_agent.new_session(user_id=rng.choice([None, "196"]))
        for n, text in enumerate(said):
            try:
                reply = replay_agent.chat(sid, text)
            except Exception as exc:  # the conversation that failed, to replay by hand
                raise AssertionError(f"{type(exc).__name__}: {exc} after {said[: n + 1]!r}") from exc
            assert reply.text.strip(), said[: n + 1]
            assert all(item.id in catalog for item in reply.items), said[: n + 1]
