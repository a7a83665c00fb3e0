"""The REST API (`convrec serve`): convrec for other assistants, with the chat page on the same server.

    POST   /sessions                               create a session (optionally for a known user)
    GET    /sessions/{id}                          its messages, understood constraints, feedback
    POST   /sessions/{id}/messages                 one turn, answered as JSON (`Reply`)
    POST   /sessions/{id}/messages/stream          the same turn as Server-Sent Events
    POST   /sessions/{id}/feedback                 like (+1) / dislike (-1) an item
    DELETE /sessions/{id}/constraints/{key}        drop one understood constraint (a chip)
    POST   /sessions/{id}/reset                    start over (feedback is kept)
    GET    /items/{item_id}                        one item's facts
    GET    /catalogs, GET /health                  what is served; liveness
    /ui/                                           the Gradio chat page; OpenAPI at /docs

Safety at the edge, so the `Agent` below can stay a plain Python object:
- Bearer-token auth for everything but /health, required whenever the server listens on anything
  but loopback (`check_bind` refuses to start otherwise). Browsers get the token once as
  `/ui/?token=...`, which sets an HttpOnly cookie.
- Request bodies over `max_body_bytes` get 413: at once when the declared length is too big, or as
  soon as a body without one passes the limit while it is read.
- A session is addressed only by its unguessable id (`secrets.token_urlsafe(24)`); there is no
  route that lists sessions or reads one session through another's id.
- `ConvrecError`s become 4xx JSON with one sentence (unknown session or item → 404, a failed
  database write → 503); malformed requests get 422 with one sentence. A 5xx means a bug.
- Agent calls block (model inference, SQLite), so they run in worker threads, at most
  `agent_threads` at a time; a streamed turn runs to completion and is stored even if the client
  goes away mid-stream.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode

import anyio
from fastapi import Body, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from fastapi.sse import format_sse_event
from fastapi_offline import FastAPIOffline
from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from convrec.agent.reply import Chip, RecommendedItem, Reply
from convrec.agent.sessions import SessionStorageError, UnknownSessionError
from convrec.errors import ConvrecError, IndexNotBuiltError, StoreUnavailableError, UnknownItemError

if TYPE_CHECKING:
    from convrec.agent.turn import Agent

T = TypeVar("T")
log = logging.getLogger("convrec.ui")

DEFAULT_MAX_BODY_BYTES = 64 * 1024  # a chat message is at most a few KB; JSON overhead is small
DEFAULT_AGENT_THREADS = 8
MIN_TOKEN_CHARS = 16
TOKEN_COOKIE = "convrec_token"
OPEN_PATHS = frozenset({"/health"})  # load balancers probe this without credentials
SESSION_ID = r"^[A-Za-z0-9_-]{16,64}$"  # token_urlsafe alphabet; anything else cannot exist


# --- request and response bodies ------------------------------------------------------------------


def _valid_unicode(value: str) -> str:
    # JSON may carry lone surrogates ("\ud800"); they cannot be stored or encoded, so refuse them here.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains characters that are not valid Unicode") from None
    return value


Text = Annotated[str, AfterValidator(_valid_unicode)]
UserId = Annotated[str, StringConstraints(max_length=64), AfterValidator(_valid_unicode)]
CatalogName = Annotated[str, StringConstraints(max_length=100), AfterValidator(_valid_unicode)]
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_valid_unicode)]


class ErrorBody(BaseModel):
    """Every error answer: one sentence a person can act on."""

    detail: str = Field(description="What went wrong, in one sentence.")


class NewSession(BaseModel):
    user_id: UserId | None = Field(
        None,
        description="A user id from the catalog's interactions (history-aware ranking), a new id, or null.",
        examples=["196"],
    )
    catalog: CatalogName | None = Field(None, description="A served catalog (see /catalogs); default if null.")


class SessionCreated(BaseModel):
    session_id: str = Field(description="Unguessable; the only handle on this session's state.")
    user_id: str | None
    catalog: str


class Message(BaseModel):
    text: Text = Field(description="What the person said.", examples=["a light-hearted sci-fi film from the 90s"])
    catalog: CatalogName | None = Field(None, description="Switch this session to another served catalog.")


class FeedbackIn(BaseModel):
    item_id: ItemId = Field(examples=["50"])
    value: Literal[1, -1] = Field(description="1 = like, -1 = dislike.")


class FeedbackOut(BaseModel):
    session_id: str
    item_id: str
    value: int
    feedback: dict[str, int] = Field(description="This session's feedback so far: item id → 1 / -1.")


class Understood(BaseModel):
    session_id: str
    understood: list[Chip]


class StoredMessage(BaseModel):
    role: Literal["user", "assistant"]
    text: str
    items: list[RecommendedItem] = Field(default_factory=list)
    created_at: float


class SessionView(BaseModel):
    """One session's own state; nothing here comes from any other session."""

    session_id: str
    user_id: str | None
    catalog: str
    created_at: float
    updated_at: float
    understood: list[Chip]
    messages: list[StoredMessage]
    feedback: dict[str, int] = Field(description="Feedback given in this session: item id → 1 / -1.")


class Health(BaseModel):
    status: Literal["ok"]
    default_catalog: str
    catalogs: list[str]
    llm: bool = Field(description="Whether replies and parsing use an LLM (false: rules and templates).")


class Catalogs(BaseModel):
    default: str
    catalogs: list[str]


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "The request cannot be served as asked.",
        401: "Missing or wrong bearer token.",
        404: "No such session, item or catalog.",
        413: "Request body too large.",
        422: "The request is malformed.",
        503: "A dependency (database, vector store) failed; nothing was changed.",
    }.items()
}


# --- errors ---------------------------------------------------------------------------------------


class UnknownCatalogError(ConvrecError):
    """A catalog name this server does not serve."""


class UnknownConstraintError(ConvrecError):
    """A chip key that is not among the session's understood constraints."""



def status_for(exc: ConvrecError) -> int:
    """The HTTP status for an error a user or the environment caused."""
    if isinstance(exc, (UnknownSessionError, UnknownItemError, UnknownCatalogError, UnknownConstraintError, IndexNotBuiltError)):
        return 404
    if isinstance(exc, (SessionStorageError, StoreUnavailableError)):
        return 503
    return 400


def _one_sentence(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "The request is malformed."
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body",)) or "request"
    msg = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"Invalid {where}: {msg}{more}."


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ConvrecError)
    async def _convrec_error(request: Request, exc: ConvrecError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _one_sentence(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "The request cannot be served."
        if exc.status_code == 413:
            detail = "The request body is too large."
        elif exc.status_code == 404 and detail == "Not Found":
            detail = "No such path."
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on this path."
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


# --- auth -----------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name may resolve to anything: treat it as reachable from outside


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen off-loopback without a token, or with one too short to be a secret."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConvrecError(
            f"The token must be at least {MIN_TOKEN_CHARS} characters; make one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
        )
    if not is_loopback(host) and not token:
        raise ConvrecError(
            f"Refusing to listen on {host} without a bearer token: pass --token (or set CONVREC_TOKEN), "
            "or bind to 127.0.0.1."
        )


class BearerAuth:
    """ASGI middleware: every request but /health needs `Authorization: Bearer <token>`.

    Browsers cannot add that header to a page load, so the chat page also accepts the token once as
    a `?token=` query parameter, answers with a redirect that drops it from the address bar, and
    sets it as an HttpOnly, SameSite=Strict cookie that the page's own requests then carry.
    """

    def __init__(self, app: ASGIApp, token: str, open_paths: frozenset[str] = OPEN_PATHS) -> None:
        self.app = app
        self._token = token.encode()
        self.open_paths = open_paths

    def _ok(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self._ok(credentials.strip()):
            await self.app(scope, receive, send)
            return
        cookies = _cookies(headers.get("cookie", ""))
        if self._ok(cookies.get(TOKEN_COOKIE)):
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = dict(query).get("token")
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and self._ok(given):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            target = scope.get("root_path", "") + scope["path"] + (f"?{rest}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(TOKEN_COOKIE, given or "", httponly=True, samesite="strict", path="/")
            await response(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = JSONResponse(
            {"detail": "Missing or wrong bearer token (send `Authorization: Bearer <token>`)."},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            out[name] = value
    return out


# --- the app --------------------------------------------------------------------------------------


class BodySizeLimit:
    """ASGI middleware: request bodies over `max_body_bytes` get a JSON 413. A declared
    Content-Length is refused before anything is read; a body without one (chunked) is counted as it
    is read and refused when it passes the limit."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await JSONResponse({"detail": "The request body is too large."}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> ASGIMessage:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    # Raised inside the app's body read, so the app's error handlers answer (JSON 413).
                    raise StarletteHTTPException(413, "The request body is too large.")
            return message

        await self.app(scope, counted, send)


class AgentRunner:
    """Runs blocking `Agent` calls in worker threads, at most `threads` at once."""

    def __init__(self, agent: Agent, threads: int = DEFAULT_AGENT_THREADS) -> None:
        self.agent = agent
        self.limiter = anyio.CapacityLimiter(threads)
        self._running: set[asyncio.Future[Any]] = set()

    async def call(self, func: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(partial(func, *args), limiter=self.limiter)

    def default_catalog(self) -> str:
        return self.agent.scene().name

    def catalog(self, name: str | None) -> str | None:
        """Accept only catalogs this server has built; a mapping path from a client is never opened."""
        if name is None:
            return None
        served = self.agent.catalogs()
        if name not in served:
            raise UnknownCatalogError(f"No catalog named {name!r} here; served: {', '.join(served) or 'none'}.")
        return name

    async def stream(self, session_id: str, text: str, catalog: str | None) -> AsyncIterator[bytes]:
        """A turn as SSE frames: `delta` events with text, then `done` with the whole reply (or
        `error` with one sentence). The turn runs in one worker thread from start to end, so it is
        stored even if the client leaves, and never holds a session lock while waiting for a thread."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        end = object()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone (server shutting down); keep the turn going
                pass

        def work() -> None:
            try:
                for event in self.agent.chat_stream(session_id, text, catalog=catalog):
                    put(event)
            except ConvrecError as exc:
                put(exc)
            except Exception as exc:  # a bug: log it, and end the stream with a 500 event
                log.exception("turn failed in session %s", session_id)
                put(exc)
            finally:
                put(end)

        task = asyncio.ensure_future(self.call(work))
        self._running.add(task)  # keep a reference: the turn outlives a client that went away
        task.add_done_callback(self._running.discard)
        while True:
            item = await queue.get()
            if item is end:
                return
            if isinstance(item, ConvrecError):
                payload = {"detail": str(item), "status": status_for(item)}
                yield format_sse_event(data_str=json.dumps(payload), event="error")
            elif isinstance(item, Exception):
                payload = {"detail": "The server failed on this turn; it has been logged.", "status": 500}
                yield format_sse_event(data_str=json.dumps(payload), event="error")
            elif item.type == "delta":
                yield format_sse_event(data_str=json.dumps({"text": item.text}), event="delta")
            else:
                yield format_sse_event(data_str=item.reply.model_dump_json(), event="done")


def session_view(agent: Agent, session_id: str) -> SessionView:
    """One session's stored state, read only through its own id."""
    from convrec.agent.state import DialogueState

    store = agent.sessions
    record = store.get(session_id)
    state = DialogueState.model_validate(record.state) if record.state else DialogueState()
    return SessionView(
        session_id=record.id,
        user_id=record.user_id,
        catalog=record.catalog,
        created_at=record.created_at,
        updated_at=record.updated_at,
        # The same chips a turn returns (Agent.chips is the one definition of what is shown).
        understood=agent.chips(state, record.catalog),
        messages=[
            StoredMessage(role=m.role, text=m.text, items=m.items, created_at=m.created_at)  # type: ignore[arg-type]
            for m in store.messages(session_id)
        ],
        feedback=store.feedback(session_id, None, record.catalog),
    )


def _sse_event(name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"type": "string", "const": name},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
        },
    }


SSE_EVENT_SCHEMA: dict[str, Any] = {
    "oneOf": [
        _sse_event("delta", {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}),
        _sse_event("done", {"$ref": "#/components/schemas/Reply"}),
        _sse_event(
            "error",
            {
                "type": "object",
                "required": ["detail", "status"],
                "properties": {"detail": {"type": "string"}, "status": {"type": "integer"}},
            },
        ),
    ]
}

SessionId = Annotated[str, Path(pattern=SESSION_ID, description="The id returned by POST /sessions.")]


def create_app(
    agent: Agent,
    *,
    token: str | None = None,
    ui: bool = True,
    ui_path: str = "/ui",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    agent_threads: int = DEFAULT_AGENT_THREADS,
) -> FastAPI:
    """The FastAPI app around `agent`, with the chat page mounted at `ui_path` when `ui`."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        check_bind("127.0.0.1", token)  # same sentence as at start-up
    runner = AgentRunner(agent, threads=agent_threads)
    # FastAPIOffline: /docs from Swagger UI files shipped in a package, not from a CDN (offline).
    app = FastAPIOffline(
        redoc_url=None,
        static_url="/docs-static",
        title="convrec",
        summary="A locally hosted conversational recommender.",
        version=_version(),
        # Local OpenTelemetry hooks only cost time here; nothing is exported either way.
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
        responses={413: ERRORS[413], 422: ERRORS[422]},
    )
    app.state.runner = runner
    _install_error_handlers(app)

    @app.get("/health", response_model=Health, tags=["service"])
    async def health() -> Health:
        """Liveness and what is served. Open without a token."""
        return Health(
            status="ok",
            default_catalog=await runner.call(runner.default_catalog),
            catalogs=await runner.call(agent.catalogs),
            llm=agent.llm is not None,
        )

    @app.get("/catalogs", response_model=Catalogs, tags=["service"], responses={401: ERRORS[401]})
    async def catalogs() -> Catalogs:
        """Catalogs with a built index that sessions may use."""
        return Catalogs(default=await runner.call(runner.default_catalog), catalogs=await runner.call(agent.catalogs))

    @app.post(
        "/sessions",
        response_model=SessionCreated,
        status_code=201,
        tags=["sessions"],
        responses={k: ERRORS[k] for k in (400, 401, 404, 503)},
    )
    async def create_session(body: Annotated[NewSession | None, Body()] = None) -> SessionCreated:
        """Start a conversation. Keep the returned id: it is the only way back to this session."""
        body = body or NewSession()
        catalog = runner.catalog(body.catalog)
        sid = await runner.call(agent.new_session, body.user_id, catalog)
        record = await runner.call(agent.sessions.get, sid)
        return SessionCreated(session_id=sid, user_id=record.user_id, catalog=record.catalog)

    @app.get(
        "/sessions/{session_id}",
        response_model=SessionView,
        tags=["sessions"],
        responses={k: ERRORS[k] for k in (401, 404)},
    )
    async def read_session(session_id: SessionId) -> SessionView:
        """This session's messages, understood constraints and feedback."""
        return await runner.call(session_view, agent, session_id)

    @app.post(
        "/sessions/{session_id}/messages",
        response_model=Reply,
        tags=["sessions"],
        responses={k: ERRORS[k] for k in (400, 401, 404, 503)},
    )
    async def send_message(session_id: SessionId, body: Message) -> Reply:
        """One turn: convrec's reply, its picks with reasons, and what it understood."""
        catalog = runner.catalog(body.catalog)
        await runner.call(agent.sessions.get, session_id)  # 404 before any work
        return await runner.call(agent.chat, session_id, body.text, catalog)

    @app.post(
        "/sessions/{session_id}/messages/stream",
        tags=["sessions"],
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "Server-Sent Events: `delta` ({text}) as the reply is written, then `done` "
                "(a Reply) — or `error` ({detail, status}) if the turn failed.",
                "content": {"text/event-stream": {"itemSchema": SSE_EVENT_SCHEMA}},
            },
            **{k: ERRORS[k] for k in (400, 401, 404)},
        },
    )
    async def stream_message(session_id: SessionId, body: Message) -> StreamingResponse:
        """The same turn as POST /messages, streamed as Server-Sent Events."""
        catalog = runner.catalog(body.catalog)
        await runner.call(agent.sessions.get, session_id)  # a plain 404, not an error inside a stream
        return StreamingResponse(
            runner.stream(session_id, body.text, catalog),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.post(
        "/sessions/{session_id}/feedback",
        response_model=FeedbackOut,
        tags=["sessions"],
        responses={k: ERRORS[k] for k in (400, 401, 404, 503)},
    )
    async def feedback(session_id: SessionId, body: FeedbackIn) -> FeedbackOut:
        """Like or dislike an item. Used from the next turn, and kept as the user's history."""
        await runner.call(agent.feedback, session_id, body.item_id, body.value)
        record = await runner.call(agent.sessions.get, session_id)
        mine = await runner.call(agent.sessions.feedback, session_id, None, record.catalog)
        return FeedbackOut(session_id=session_id, item_id=body.item_id, value=body.value, feedback=mine)

    @app.delete(
        "/sessions/{session_id}/constraints/{key}",
        response_model=Understood,
        tags=["sessions"],
        responses={k: ERRORS[k] for k in (400, 401, 404, 503)},
    )
    async def remove_constraint(
        session_id: SessionId, key: Annotated[str, Path(max_length=200, description="A chip's key.")]
    ) -> Understood:
        """Drop one understood constraint (a chip); returns the ones left."""
        try:
            chips = await runner.call(agent.remove_constraint, session_id, key)
        except ConvrecError as exc:
            if type(exc) is ConvrecError:  # the Agent's "no such constraint"; subclasses keep their status
                raise UnknownConstraintError(str(exc)) from None
            raise
        return Understood(session_id=session_id, understood=chips)

    @app.post(
        "/sessions/{session_id}/reset",
        response_model=Understood,
        tags=["sessions"],
        responses={k: ERRORS[k] for k in (401, 404, 503)},
    )
    async def reset(session_id: SessionId) -> Understood:
        """Start over: forget constraints and shown items; likes and dislikes are kept."""
        await runner.call(agent.reset, session_id)
        view = await runner.call(session_view, agent, session_id)
        return Understood(session_id=session_id, understood=view.understood)

    @app.get(
        "/items/{item_id}",
        response_model=RecommendedItem,
        tags=["catalog"],
        responses={k: ERRORS[k] for k in (401, 404)},
    )
    async def read_item(
        item_id: Annotated[str, Path(max_length=200)],
        catalog: Annotated[str | None, Query(max_length=100)] = None,
    ) -> RecommendedItem:
        """One item's facts."""
        return await runner.call(agent.item, item_id, runner.catalog(catalog))

    if ui:
        _mount_ui(app, agent, ui_path)

    app.add_middleware(BodySizeLimit, max_body_bytes=max_body_bytes)
    if token:
        _document_bearer(app)
        app.add_middleware(BearerAuth, token=token)  # added last, so it runs first
    return app


def _mount_ui(app: FastAPI, agent: Agent, path: str) -> None:
    import gradio as gr

    from convrec.ui.chat import CSS, build_page

    path = "/" + path.strip("/")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(f"{path}/")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> RedirectResponse:  # browsers ask at the root; Gradio serves one
        return RedirectResponse(f"{path}/favicon.ico")

    gr.mount_gradio_app(
        app,
        build_page(agent),
        path=path,
        footer_links=[],
        run_history=False,
        show_error=True,
        ssr_mode=False,  # client-side rendering: no Node server
        pwa=False,
        mcp_server=False,
        css=CSS,
    )


def _document_bearer(app: FastAPI) -> None:
    """Show the bearer scheme in /docs (the check itself is `BearerAuth`, which also covers the page)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
                "type": "http",
                "scheme": "bearer",
            }
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("convrec")
    except PackageNotFoundError:
        return "0"


# --- running it -----------------------------------------------------------------------------------


def serve(
    settings: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    llm: Literal["auto"] | None = "auto",
    ui: bool = True,
    ui_path: str = "/ui",
    log_level: str = "info",
    announce: Callable[[str], None] = print,
) -> None:
    """Build the agent and run the server until interrupted (`convrec serve` / `convrec ui`)."""
    import uvicorn

    from convrec.agent.turn import Agent
    from convrec.config import offline_environment

    offline_environment()
    token = token or None
    check_bind(host, token)  # before loading anything: a refused start should be instant
    if not 0 < port < 65536:
        raise ConvrecError(f"Port {port} is not a TCP port (1–65535).")
    agent = Agent.from_settings(settings, llm=llm)
    app = create_app(agent, token=token, ui=ui, ui_path=ui_path)
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    announce(f"convrec on {base} · page {base}{ui_path}/ · API docs {base}/docs" + (" · token required" if token else ""))
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
    except OSError as exc:  # port in use, address not available
        raise ConvrecError(f"Cannot listen on {host}:{port} ({exc.strerror or exc}).") from None


__all__ = [
    "BearerAuth",
    "check_bind",
    "create_app",
    "is_loopback",
    "serve",
    "session_view",
    "status_for",
]
