"""The Gradio chat page (`convrec ui`): streamed replies, picks as cards with like / dislike,
removable chips for what convrec understood, a user picker, "start over" and example prompts.

The page is a thin view over `Agent`: everything it shows comes from a `Reply` or the session
store, and every button is one `Agent` call. Each browser tab holds its own session id in a
`gr.State`, so tabs never share a conversation.

Text a person types is escaped (HTML and Markdown) before it is shown, so a message with markup or
a script appears as the characters typed. Replies keep their Markdown (bold titles) but any HTML in
them is escaped too: an LLM sentence cannot inject markup. Cards are built from escaped facts.
Nothing on the page loads from the internet: the default theme's fonts are served by Gradio itself,
analytics are off (`offline_environment`), and there are no external links or images.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from convrec.errors import ConvrecError

if TYPE_CHECKING:
    import gradio as gr

    from convrec.agent.reply import Reply
    from convrec.agent.turn import Agent

NEW_USER = "new"
EXAMPLES = [
    "a light-hearted sci-fi film from the 90s, nothing violent",
    "something animated for my kids",
    "a dark thriller from the 70s",
    "a romantic comedy, but nothing too old",
    "movies by the director of Fargo",
    "more like #2",
]
EMPTY_VIEW: dict[str, Any] = {"turn": 0, "items": [], "chips": [], "feedback": {}}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")

CSS = """
#convrec-cards .card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px;
  background: var(--block-background-fill); }
.card-title { font-weight: 600; font-size: 1.05em; margin: 0 0 4px 0; }
.card-year { color: var(--body-text-color-subdued); font-weight: 400; }
.card-facets { margin: 4px 0; display: flex; flex-wrap: wrap; gap: 4px; }
.facet { font-size: 0.8em; padding: 1px 8px; border-radius: 999px; background: var(--background-fill-secondary);
  border: 1px solid var(--border-color-primary); }
.card-why { font-size: 0.9em; margin-top: 6px; }
.card-rank { color: var(--body-text-color-subdued); font-size: 0.8em; }
.card-verdict { font-size: 0.85em; font-weight: 600; }
#convrec-chips, #convrec-chips .row { align-items: center; flex-wrap: wrap; justify-content: flex-start; gap: 6px; }
#convrec-understood { flex: 0 0 auto !important; width: auto !important; }
#convrec-chips button.chip { border-radius: 999px; white-space: nowrap; flex: 0 0 auto !important;
  min-width: fit-content !important; }
"""


# --- pure helpers (unit-tested) -------------------------------------------------------------------


def status_line(reply: Reply) -> str:
    """The line under the chat for a finished turn: what it gave and how long it took."""
    n = len(reply.items)
    what = {
        "about": (f"Answered about {escape_user_text(reply.items[0].title)}" if n == 1
                  else f"Answered about the {n} picks" if n else "Answered"),
        "reordered": f"The same {n} pick{'s' if n != 1 else ''}, by rating",
        "chat": "Answered",
    }.get(reply.kind, f"{n} pick{'s' if n != 1 else ''}")
    took = reply.timings.get("total")
    if took is not None:
        what += f" in {took * 1000:.0f} ms" if took < 1 else f" in {took:.1f} s"
    what += "."
    if reply.items:
        what += " Like or dislike a card to steer the next ones."
    return what


def escape_user_text(text: str) -> str:
    """What a person typed, made inert for the chat window: HTML escaped, Markdown neutralised."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def escape_reply_text(text: str, titles: Iterable[str] = ()) -> str:
    """A reply for the chat window: its Markdown stays (bold titles), any HTML shows as text, and the
    given titles are shown literally (a title like "B*A*P*S" must not turn into italics)."""
    out = html.escape(text, quote=False)
    for title in sorted({t for t in titles if t}, key=len, reverse=True):
        safe = html.escape(title, quote=False)
        if _MD_SPECIAL.search(safe):
            out = out.replace(safe, _MD_SPECIAL.sub(r"\\\1", safe))
    return out


def _facet_values(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return [str(int(value))]
    return [str(value)]


def card_html(item: dict[str, Any], rank: int, verdict: int | None = None, turn: int = 0) -> str:
    """One pick as a card: title, year, facets and the reason, every value escaped. `turn` marks
    which reply the card belongs to (the page's tests wait on it)."""
    facts = dict(item.get("facts") or {})
    title = str(item.get("title") or facts.get("title") or item.get("id", ""))
    year = facts.get("year")
    year_html = f' <span class="card-year">({html.escape(_facet_values(year)[0])})</span>' if year is not None else ""
    facets = []
    for name, value in facts.items():
        if name in ("id", "title", "year") or value in (None, "", [], ()):
            continue
        for v in _facet_values(value)[:6]:
            facets.append(f'<span class="facet" title="{html.escape(str(name))}">{html.escape(v)}</span>')
    why = str(item.get("why") or "")
    verdict_html = ""
    if verdict == 1:
        verdict_html = '<div class="card-verdict">✓ You liked this</div>'
    elif verdict == -1:
        verdict_html = '<div class="card-verdict">✗ Not for you</div>'
    return (
        f'<div class="card-body" data-item-id="{html.escape(str(item.get("id", "")))}" data-rank="{rank}" '
        f'data-turn="{int(turn)}">'
        f'<div class="card-rank">#{rank}</div>'
        f'<div class="card-title">{html.escape(title)}{year_html}</div>'
        f'<div class="card-facets">{"".join(facets)}</div>'
        f'<div class="card-why">{html.escape(why)}</div>'
        f"{verdict_html}</div>"
    )


def user_choices(agent: Agent, catalog: str | None = None, limit: int | None = None) -> list[tuple[str, str]]:
    """("New user", "new") then the catalog's users with their number of ratings, by id."""
    choices = [("New user (no history)", NEW_USER)]
    try:
        frame = agent.scene(catalog).index.catalog.interactions.frame
    except (ConvrecError, AttributeError):
        return choices
    counts = frame.groupby("user").size()
    ids = sorted(counts.index, key=lambda u: (0, int(u)) if str(u).isdigit() else (1, str(u)))
    for uid in ids[:limit]:
        n = int(counts[uid])
        choices.append((f"User {uid} · {n} rating{'s' if n != 1 else ''}", str(uid)))
    return choices


# --- the page -------------------------------------------------------------------------------------


class ChatPage:
    """Event handlers of the page, one `Agent` call each. Plain methods, so tests can call them."""

    def __init__(self, agent: Agent, catalog: str | None = None) -> None:
        self.agent = agent
        self.catalog = catalog

    # Each handler gets and returns the tab's state: `session` (an id or None) and `view`
    # (the cards, chips and this tab's verdicts), plus the chat history as Gradio messages.
    def _session(self, session: str | None, user: str | None) -> str:
        if session and self.agent.sessions.exists(session):
            return session
        user_id = None if user in (None, "", NEW_USER) else str(user)
        return self.agent.new_session(user_id=user_id, catalog=self.catalog)

    def respond(
        self, text: str, history: list[dict[str, Any]], session: str | None, user: str | None, view: dict[str, Any]
    ) -> Iterator[tuple[Any, ...]]:
        """Send a message: the reply streams into the chat; cards and chips follow when it is done."""
        import gradio as gr

        history = list(history or [])
        if not (text or "").strip():
            yield history, "", session, gr.skip(), "Type what you are in the mood for, or pick an example."
            return
        try:
            session = self._session(session, user)
        except ConvrecError as exc:
            yield history, text, session, gr.skip(), f"⚠️ {escape_user_text(str(exc))}"
            return
        history += [{"role": "user", "content": escape_user_text(text)}, {"role": "assistant", "content": ""}]
        yield history, "", session, gr.skip(), "Thinking…"
        written = ""
        reply = None
        try:
            for event in self.agent.chat_stream(session, text):
                if event.type == "delta":
                    written += event.text
                    history[-1] = {"role": "assistant", "content": escape_reply_text(written)}
                    yield history, "", session, gr.skip(), "Writing…"
                else:
                    reply = event.reply
        except ConvrecError as exc:
            history[-1] = {"role": "assistant", "content": escape_reply_text(f"⚠️ {exc}")}
            yield history, "", session, gr.skip(), f"⚠️ {escape_user_text(str(exc))}"
            return
        assert reply is not None
        history[-1] = {"role": "assistant", "content": escape_reply_text(reply.text, [it.title for it in reply.items])}
        verdicts = self._verdicts(session)
        new_view = {
            "turn": len(history) // 2,
            "items": [it.model_dump() for it in reply.items],
            "chips": [c.model_dump() for c in reply.understood],
            "feedback": {it.id: verdicts[it.id] for it in reply.items if it.id in verdicts},
        }
        yield history, "", session, new_view, status_line(reply)

    def _verdicts(self, session: str) -> dict[str, int]:
        record = self.agent.sessions.get(session)
        return self.agent.sessions.feedback(session, None, record.catalog)

    def feedback(self, item_id: str, value: int, session: str | None, view: dict[str, Any]) -> tuple[Any, str]:
        """Like (+1) or dislike (-1) a card: stored at once, used by the next turn."""
        if not session:
            return view, "Ask for something first."
        try:
            self.agent.feedback(session, item_id, value)
        except ConvrecError as exc:
            return view, f"⚠️ {escape_user_text(str(exc))}"
        view = {**view, "feedback": {**view.get("feedback", {}), item_id: value}}
        title = next((it["title"] for it in view.get("items", []) if it["id"] == item_id), item_id)
        word = "liked" if value > 0 else "disliked"
        return view, f"Noted: you {word} {escape_user_text(title)}. Your next picks will take it into account."

    def remove_chip(self, key: str, session: str | None, view: dict[str, Any]) -> tuple[Any, str]:
        """Drop one understood constraint; the next turn searches without it."""
        if not session:
            return view, ""
        try:
            chips = self.agent.remove_constraint(session, key)
        except ConvrecError as exc:
            return view, f"⚠️ {escape_user_text(str(exc))}"
        removed = next((c["label"] for c in view.get("chips", []) if c["key"] == key), key)
        view = {**view, "chips": [c.model_dump() for c in chips]}
        return view, f"Dropped {escape_user_text(removed)}. Ask again to see picks without it."

    def start_over(self, session: str | None) -> tuple[Any, ...]:
        """Forget the conversation (constraints, shown items); likes and dislikes stay."""
        if session and self.agent.sessions.exists(session):
            self.agent.reset(session)
        return [], session, dict(EMPTY_VIEW), "Started over. Your likes and dislikes are kept."

    def change_user(self, user: str | None) -> tuple[Any, ...]:
        """A different person: a new session on the next message."""
        who = "a new user" if user in (None, "", NEW_USER) else f"user {escape_user_text(str(user))}"
        return [], None, dict(EMPTY_VIEW), f"Now chatting as {who}; recommendations use their history."


def build_page(agent: Agent, catalog: str | None = None, users_limit: int | None = None) -> gr.Blocks:
    """The chat page as a `gr.Blocks` (mount it with `gr.mount_gradio_app`, see `convrec.ui.api`)."""
    import gradio as gr

    page = ChatPage(agent, catalog)
    name = agent.scene(catalog).name
    with gr.Blocks(title="convrec", analytics_enabled=False, fill_width=False) as demo:
        session = gr.State(None)
        view = gr.State(dict(EMPTY_VIEW))
        # Made now, placed under the input box below: the card and chip handlers write to it.
        status = gr.Markdown("", elem_id="convrec-status", render=False)
        gr.Markdown(f"## convrec · {html.escape(name)}\nTell me what you're in the mood for.")
        with gr.Row(equal_height=False):
            user = gr.Dropdown(
                choices=user_choices(agent, catalog, users_limit),
                value=NEW_USER,
                label="Who is asking",
                info="An existing user brings their rating history into the ranking.",
                elem_id="convrec-user",
                scale=3,
            )
            restart = gr.Button("Start over", elem_id="convrec-start-over", scale=0, min_width=140)
        chat = gr.Chatbot(
            label="Conversation",
            elem_id="convrec-chat",
            height=380,
            sanitize_html=True,
            render_markdown=True,
            feedback_options=None,  # feedback is given on the cards, per item
            allow_tags=False,
            buttons=[],
        )
        with gr.Row(elem_id="convrec-chips"):

            @gr.render(inputs=[view])
            def _chips(v: dict[str, Any]) -> None:
                chips = v.get("chips", [])
                if not chips:
                    return
                gr.HTML("<b>Understood:</b>", elem_id="convrec-understood", scale=0, min_width=100, js_on_load=None)
                for n, chip in enumerate(chips):
                    button = gr.Button(
                        f"{chip['label']}  ✕",
                        size="sm",
                        scale=0,
                        elem_classes="chip",
                        elem_id=f"convrec-chip-{n}",
                        key=f"chip-{chip['key']}",
                    )
                    button.click(partial(page.remove_chip, chip["key"]), [session, view], [view, status])

        with gr.Row():
            box = gr.Textbox(
                placeholder="e.g. a light-hearted sci-fi film from the 90s, nothing violent",
                show_label=False,
                elem_id="convrec-input",
                scale=5,
                autofocus=True,
            )
            send = gr.Button("Send", variant="primary", elem_id="convrec-send", scale=1)
        status.render()
        with gr.Column(elem_id="convrec-cards"):

            @gr.render(inputs=[view])
            def _cards(v: dict[str, Any]) -> None:
                items = v.get("items", [])
                verdicts = v.get("feedback", {})
                for start in range(0, len(items), 5):
                    with gr.Row(equal_height=True):
                        for rank, item in enumerate(items[start : start + 5], start + 1):
                            with gr.Column(elem_classes="card", elem_id=f"convrec-card-{rank}", min_width=180):
                                gr.HTML(card_html(item, rank, verdicts.get(item["id"]), v.get("turn", 0)), js_on_load=None)
                                with gr.Row():
                                    like = gr.Button(
                                        "Like",
                                        size="sm",
                                        variant="primary" if verdicts.get(item["id"]) == 1 else "secondary",
                                        elem_id=f"convrec-like-{rank}",
                                        min_width=60,
                                    )
                                    dislike = gr.Button(
                                        "Dislike",
                                        size="sm",
                                        variant="stop" if verdicts.get(item["id"]) == -1 else "secondary",
                                        elem_id=f"convrec-dislike-{rank}",
                                        min_width=60,
                                    )
                                like.click(partial(page.feedback, item["id"], 1), [session, view], [view, status])
                                dislike.click(partial(page.feedback, item["id"], -1), [session, view], [view, status])

        gr.Examples(examples=[[e] for e in EXAMPLES], inputs=[box], label="Try")

        turn_io = dict(fn=page.respond, inputs=[box, chat, session, user, view], outputs=[chat, box, session, view, status])
        box.submit(**turn_io)
        send.click(**turn_io)
        restart.click(page.start_over, [session], [chat, session, view, status])
        user.change(page.change_user, [user], [chat, session, view, status])
    # Several people may chat at once; each turn runs in Gradio's worker threads.
    demo.queue(default_concurrency_limit=8)
    return demo
