"""The chat page in a real browser: Playwright drives Debian's Chromium (headless) against the page
served by a real `convrec serve` process. Type a request, get a reply with cards, like a card, ask
again and see the change (against a second tab that did not like anything); chips, start over,
the user picker, escaping of typed HTML, and no request leaving 127.0.0.1. Saves screenshots
under test-artifacts/.

Needs /usr/bin/chromium (`make system-deps` installs it); a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from convrec.config import Settings
from ui_helpers import REPO, ChatTab, ConvrecServer, chromium, linked_home

ARTIFACTS = REPO / "test-artifacts"
REQUEST = "a sci-fi film"  # broad enough that a like can reorder what comes next
AGAIN = "something else"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(ml_settings: Settings, ml_index: Any, tmp_path_factory: pytest.TempPathFactory) -> ConvrecServer:
    home = linked_home(ml_settings.home, tmp_path_factory.mktemp("browser-home"))
    srv = ConvrecServer(home).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Any:
    with chromium() as b:
        yield b


def test_chat_cards_like_and_the_change_it_makes(browser: Any, server: ConvrecServer) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    tab = ChatTab(browser, server.url + "/ui/", outside)

    first = tab.ask(REQUEST)
    assert 1 <= len(first) <= 10
    title = tab.page.inner_text("#convrec-card-1 .card-title")
    assert title.split(" (")[0] in tab.page.inner_text("#convrec-chat")  # the streamed reply names the picks
    assert re.search(r"\((19|20)\d\d\)", tab.page.inner_text("#convrec-card-1 .card-title"))  # year on the card
    assert "Sci-Fi" in tab.page.inner_text("#convrec-card-1 .card-facets")  # facets on the card
    assert tab.page.inner_text("#convrec-card-1 .card-why").strip()  # and the reason
    chips = tab.page.locator("#convrec-chips button.chip")
    assert chips.count() >= 1 and "Sci-Fi" in " ".join(chips.all_inner_texts())

    liked = first[-1]
    liked_title = tab.page.inner_text(f"#convrec-card-{len(first)} .card-title").split(" (")[0]
    tab.page.click(f"#convrec-like-{len(first)}")
    tab.page.wait_for_selector(f'.card-body[data-item-id="{liked}"] .card-verdict')
    assert "You liked this" in tab.page.inner_text(f"#convrec-card-{len(first)}")
    assert tab.status().startswith("Noted: you liked")
    tab.page.screenshot(path=str(ARTIFACTS / "ui-liked.png"), full_page=True)

    after_like = tab.ask(AGAIN)
    tab.page.screenshot(path=str(ARTIFACTS / "ui-chat.png"), full_page=True)
    reasons = tab.page.locator(".card-why").all_inner_texts()
    # The change is visible on the cards: reasons name the liked film ("…people who liked X also
    # liked it", "close to X, which you liked").
    assert any(liked_title in r for r in reasons), (liked_title, reasons)

    # The same conversation in another tab (another session) without the like.
    control = ChatTab(browser, server.url + "/ui/", outside)
    assert control.ask(REQUEST) == first
    without_like = control.ask(AGAIN)
    assert after_like and after_like != without_like
    assert not set(after_like) & set(first)  # shown picks are not repeated

    # Removing a chip drops that constraint.
    n_chips = chips.count()
    label = chips.first.inner_text()
    chips.first.click()
    tab.page.wait_for_function(
        "n => document.querySelectorAll('#convrec-chips button.chip').length < n", arg=n_chips
    )
    assert tab.status().startswith("Dropped")
    assert label not in " ".join(tab.page.locator("#convrec-chips button.chip").all_inner_texts())

    # Start over clears the conversation and the cards.
    tab.page.click("#convrec-start-over")
    tab.page.wait_for_function("() => document.querySelectorAll('.card-body').length === 0")
    assert tab.page.locator("#convrec-chat .message-row").count() == 0
    assert tab.status().startswith("Started over")

    assert outside == [], f"the page reached outside 127.0.0.1: {outside[:5]}"


def test_by_the_director_of_a_film(browser: Any, server: ConvrecServer) -> None:
    """The knowledge graph's relation on the page: a chip that names it, reasons that name it, and
    a click that lets go of it."""
    outside: list[str] = []
    tab = ChatTab(browser, server.url + "/ui/", outside)
    picks = tab.ask("movies by the director of Fargo")
    assert 1 <= len(picks) <= 5
    assert all("Shares a director with Fargo" in r for r in tab.page.locator(".card-why").all_inner_texts())
    chip = tab.page.locator("#convrec-chips button.chip", has_text="by the director of Fargo")
    assert chip.count() == 1
    chip.click()
    tab.page.wait_for_function(
        "() => ![...document.querySelectorAll('#convrec-chips button.chip')].some(b => b.innerText.includes('director'))")
    assert tab.status().startswith("Dropped")
    tab.page.screenshot(path=str(ARTIFACTS / "ui-director.png"), full_page=True)
    assert outside == []


def test_a_question_about_a_pick(browser: Any, server: ConvrecServer) -> None:
    """'Tell me more about #1': an answer with a bullet list and that pick's card, no new list,
    the chips as they were."""
    outside: list[str] = []
    tab = ChatTab(browser, server.url + "/ui/", outside)
    first = tab.ask("a crime movie from the 90s")
    chips = tab.page.locator("#convrec-chips button.chip").all_inner_texts()
    tab.ask("tell me more about #1")
    answer = tab.page.locator("#convrec-chat .message-row.bot-row").last
    assert answer.locator("ul li").count() >= 3 and "I suggested it because" in answer.inner_text()
    assert tab.page.eval_on_selector_all(".card-body[data-turn='2']", "els => els.map(e => e.dataset.itemId)") == first[:1]
    assert tab.page.locator("#convrec-chips button.chip").all_inner_texts() == chips
    assert tab.status().startswith("Answered about ")
    tab.page.screenshot(path=str(ARTIFACTS / "ui-about-a-pick.png"), full_page=True)
    assert outside == []


def test_typed_html_is_shown_as_text(browser: Any, server: ConvrecServer) -> None:
    outside: list[str] = []
    tab = ChatTab(browser, server.url + "/ui/", outside)
    nasty = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>sci-fi</b> **now**'
    tab.ask(nasty)
    bubble = tab.page.locator("#convrec-chat .message-row.user-row").first
    assert nasty in bubble.inner_text()  # every character, as typed
    assert bubble.locator("img, script, b, strong").count() == 0
    assert tab.page.evaluate("() => window.__pwned") is None
    assert outside == []


def test_user_picker_brings_history_into_the_ranking(browser: Any, server: ConvrecServer) -> None:
    outside: list[str] = []
    newcomer = ChatTab(browser, server.url + "/ui/", outside)
    new_user_picks = newcomer.ask(REQUEST)

    regular = ChatTab(browser, server.url + "/ui/", outside)
    picker = regular.page.locator("#convrec-user input")
    picker.click()
    picker.press("Control+a")
    picker.press("Backspace")
    picker.press_sequentially("User 196 ·")  # typing filters the options
    regular.page.locator("li[role=option]", has_text="User 196 ·").first.click()
    regular.page.wait_for_function("() => /user 196/.test(document.querySelector('#convrec-status').innerText)")
    user_picks = regular.ask(REQUEST)
    assert user_picks and user_picks != new_user_picks
    regular.page.screenshot(path=str(ARTIFACTS / "ui-user-196.png"), full_page=True)
    assert outside == []


def test_api_docs_render_offline(browser: Any, server: ConvrecServer) -> None:
    outside: list[str] = []
    page = browser.new_page()
    page.on("request", lambda r: outside.append(r.url) if "127.0.0.1" not in r.url else None)
    page.goto(server.url + "/docs", wait_until="load")
    page.wait_for_selector(".swagger-ui .opblock", timeout=60_000)  # the operations are drawn
    assert "/sessions/{session_id}/messages/stream" in page.inner_text(".swagger-ui")
    page.close()
    assert outside == []
