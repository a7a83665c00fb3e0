"""The `convrec` command line.

Errors a user can cause end as one sentence on stderr and exit status 2; anything else is a bug
and shows its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from convrec.config import Settings, load_settings, offline_environment
from convrec.errors import ConvrecError

app = typer.Typer(
    name="convrec",
    help="A locally hosted conversational recommender.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Show `ConvrecError`s as one line and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConvrecError as exc:
            err_console.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("Interrupted.")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def main(
    ctx: typer.Context,
    catalog: Annotated[str | None, typer.Option(help="Built-in catalog name or mapping TOML.")] = None,
    home: Annotated[Path | None, typer.Option(help="Where indexes and caches live [$CONVREC_HOME].")] = None,
    chroma_url: Annotated[str | None, typer.Option(help="Use a Chroma server at this URL.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
) -> None:
    offline_environment()
    try:
        ctx.obj = load_settings(catalog=catalog, home=home, chroma_url=chroma_url, device=device)
    except ConvrecError as exc:
        err_console.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _settings(ctx: typer.Context) -> Settings:
    return ctx.obj


@app.command()
@user_errors
def build(
    ctx: typer.Context,
    skip_bad_rows: Annotated[
        bool | None, typer.Option("--skip-bad-rows/--strict", help="Skip and count malformed rows.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    if_missing: Annotated[bool, typer.Option("--if-missing", help="Do nothing when an index is already built.")] = False,
) -> None:
    """Build (or rebuild) the catalog's index: load, embed, store; swapped in atomically."""
    from convrec.retrieval.index import Index, build_index

    settings = _settings(ctx)
    if if_missing:
        try:
            index = Index.open(settings)
        except ConvrecError:
            pass  # nothing usable built: build it
        else:
            # what the catalog can use beyond its items is fetched even so (once; a no-op when cached)
            from convrec import assets

            assets.fetch_catalog_extras(index.name, settings.data_dir, log=lambda m: err_console.print(m, highlight=False))
            console.print(f"[green]Index ready:[/] {index.manifest.catalog} · {index.manifest.items:,} items · build {index.build_id} (already built)")
            return
    if skip_bad_rows is not None:
        settings = settings.model_copy(update={"skip_bad_rows": skip_bad_rows})
    manifest = build_index(settings, progress=not quiet, log=lambda m: err_console.print(m, highlight=False))
    console.print(
        f"[green]Index ready:[/] {manifest.catalog} · {manifest.items:,} items · build {manifest.build_id} · "
        f"{manifest.build_s:.1f}s"
    )


@app.command()
@user_errors
def search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="What you are looking for.")],
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="How many results.")] = 10,
    genre: Annotated[list[str] | None, typer.Option("--genre", help="Must have this genre (repeat for all of).")] = None,
    not_genre: Annotated[list[str] | None, typer.Option("--not-genre", help="Must not have this genre.")] = None,
    min_year: Annotated[float | None, typer.Option(help="Earliest year.")] = None,
    max_year: Annotated[float | None, typer.Option(help="Latest year.")] = None,
    facet: Annotated[
        list[str] | None, typer.Option("--facet", help="FACET=VALUE (include) or FACET!=VALUE (exclude).")
    ] = None,
    exclude_id: Annotated[list[str] | None, typer.Option("--exclude-id", help="Never return this item.")] = None,
) -> None:
    """Semantic search over the catalog under hard filters."""
    from convrec.retrieval.filters import NumericRange, SearchFilters
    from convrec.retrieval.index import Index

    if not text.strip():
        raise ConvrecError("Give some text to search for.")
    settings = _settings(ctx)
    index = Index.open(settings)
    genre_facet = _genre_facet(index)
    include_all: dict[str, list[str]] = {}
    exclude: dict[str, list[str]] = {}
    if genre:
        include_all[genre_facet] = list(genre)
    if not_genre:
        exclude[genre_facet] = list(not_genre)
    for spec in facet or []:
        if "!=" in spec:
            name, value = spec.split("!=", 1)
            exclude.setdefault(name.strip(), []).append(value.strip())
        elif "=" in spec:
            name, value = spec.split("=", 1)
            include_all.setdefault(name.strip(), []).append(value.strip())
        else:
            raise ConvrecError(f"--facet {spec!r} should look like FACET=VALUE or FACET!=VALUE.")
    ranges = {}
    if min_year is not None or max_year is not None:
        ranges["year"] = NumericRange(low=min_year, high=max_year)
    try:
        filters = SearchFilters(include_all=include_all, exclude=exclude, ranges=ranges, exclude_ids=exclude_id or [])
    except ValueError as exc:
        raise ConvrecError(f"Invalid filters: {exc}") from None
    hits = index.search(text, k=k, filters=filters)
    table = Table(title=f"{index.name}: {text!r} · {filters.normalized(index.catalog.schema).describe()}")
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("id")
    table.add_column("title", overflow="fold")
    for spec in index.catalog.schema.facets:
        table.add_column(spec.display, overflow="fold")
    for rank, hit in enumerate(hits, 1):
        cells = []
        for spec in index.catalog.schema.facets:
            if spec.kind == "categorical":
                cells.append(", ".join(hit.item.categorical.get(spec.name, ())))
            else:
                value = hit.item.numeric.get(spec.name)
                cells.append("" if value is None else f"{value:g}")
        table.add_row(str(rank), f"{hit.score:.3f}", hit.item.id, hit.item.title, *cells)
    console.print(table)
    if not hits:
        console.print("No items match these filters.")


def _genre_facet(index: Any) -> str:
    """The facet that --genre refers to: 'genres' where it exists, else the first categorical."""
    schema = index.catalog.schema
    if schema.get("genres") is not None:
        return "genres"
    if schema.categorical:
        return schema.categorical[0].name
    raise ConvrecError(f"Catalog {index.name!r} has no categorical facet to filter on.")


@app.command()
@user_errors
def info(ctx: typer.Context) -> None:
    """What is built, where, and with which model."""
    from convrec.retrieval.index import IndexManifest, _current_build

    settings = _settings(ctx)
    root = settings.index_dir
    console.print(f"home: {settings.home}")
    console.print(f"chroma: {settings.chroma_url or 'embedded (PersistentClient)'}")
    found = False
    for cat_dir in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
        build_id = _current_build(cat_dir)
        if build_id is None:
            continue
        found = True
        try:
            m = IndexManifest.model_validate_json((cat_dir / "builds" / build_id / "manifest.json").read_text())
        except (OSError, ValueError):
            console.print(f"[red]{cat_dir.name}: build {build_id} is damaged; rebuild it.[/]")
            continue
        table = Table(title=f"{m.catalog} — {m.description}", show_header=False)
        for key, value in [
            ("build", m.build_id),
            ("created", m.created_at),
            ("path", str(cat_dir / "builds" / build_id)),
            ("store", f"{m.store} · collection {m.collection}"),
            ("embedding model", f"{m.embedding_model} ({m.dims} dims)"),
            ("items", f"{m.items:,}"),
            ("users / interactions", f"{m.users:,} / {m.interactions:,}"),
            ("hnsw", ", ".join(f"{k}={v}" for k, v in m.hnsw.model_dump().items())),
            ("build time", f"{m.build_s:.1f}s (embedding {m.embed_s:.1f}s, {m.embedded_items:,} items embedded)"),
            ("load report", m.load_report),
        ]:
            table.add_row(key, value)
        models_dir = cat_dir / "builds" / build_id / "models"
        if models_dir.is_dir():
            table.add_row("ranking models", ", ".join(sorted(p.name for p in models_dir.iterdir())) or "none")
            check = next(iter(sorted(models_dir.glob("*/parts/kg/link_check.json"))), None)
            if check is not None:
                table.add_row("knowledge graph", _graph_status(check))
        console.print(table)
    if not found:
        console.print("No index built yet; run `convrec build`.")


def _graph_status(check: Path) -> str:
    """One line on a trained ranker's knowledge graph: how many items it links, and whether the
    links passed the check (only then does it give reasons and answer "by the director of")."""
    import json

    from convrec.ranking.paradigms.kg import LINK_CHECK_MIN_Z

    try:
        info = json.loads(check.read_text(encoding="utf-8"))
        z, items = float(info["z"]), int(info["items"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable link check; retrain with `convrec train`"
    if z >= LINK_CHECK_MIN_Z:
        return f"{items:,} items linked, link check z = {z:.1f}: reasons and 'by the director of' requests"
    return f"links failed the check (z = {z:.1f}): no reasons from it; `convrec build` then `convrec train` repairs them"


@app.command()
@user_errors
def ask(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="What you are looking for, in your own words.")],
    user: Annotated[str | None, typer.Option("--user", help="A user id from the catalog's history.")] = None,
    session: Annotated[str | None, typer.Option(help="Continue this session (printed after each answer).")] = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Rules-only parsing and template replies.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show timings and understood constraints.")] = False,
) -> None:
    """Ask for recommendations in the terminal; the reply streams as it is written."""
    from convrec.agent.turn import Agent

    settings = _settings(ctx)
    agent = Agent.from_settings(settings, llm=None if no_llm else "auto")
    if session and not agent.sessions.exists(session):
        raise ConvrecError("No such session; leave out --session to start a new one.")
    sid = session or agent.new_session(user_id=user)
    reply = None
    for event in agent.chat_stream(sid, text):
        if event.type == "delta":
            console.print(event.text, end="", markup=False, highlight=False, soft_wrap=True)
        else:
            reply = event.reply
    console.print()
    if reply is not None and verbose:
        console.print(f"understood: {', '.join(c.label for c in reply.understood) or 'nothing specific'}")
        console.print("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in reply.timings.items()))
    err_console.print(f"session: {sid}", highlight=False)


# --- ranking: train, evaluate, recommend ---------------------------------------------------------

evaluate_app = typer.Typer(
    help="Measure convrec: offline top-N protocol against peers; simulated conversations.", no_args_is_help=True
)
app.add_typer(evaluate_app, name="evaluate")


def _log_line(message: str) -> None:
    err_console.print(message, highlight=False, soft_wrap=True)


@app.command()
@user_errors
def train(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option("--model", help="Which ranker (see docs/ranking.md); default: the default ranker.")] = None,
    engine: Annotated[str | None, typer.Option("--engine", help="Factor engine: implicit (default) or spark.")] = None,
    spark_master: Annotated[str | None, typer.Option("--spark-master", help="Spark master URL (default local[*]).")] = None,
    no_tune: Annotated[bool, typer.Option("--no-tune", help="Skip the hyperparameter search (use defaults).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the final line.")] = False,
    if_missing: Annotated[bool, typer.Option("--if-missing", help="Do nothing when this model is already trained.")] = False,
) -> None:
    """Train a ranker for the catalog's index and save it next to the index."""
    from convrec.ranking.store import check_name, models_dir
    from convrec.ranking.train import DEFAULT_MODEL, TrainOptions
    from convrec.ranking.train import train as train_ranker
    from convrec.retrieval.index import Index

    settings = _settings(ctx)
    rs = settings.ranking
    engine = engine or rs.engine
    if engine not in ("implicit", "spark"):
        raise ConvrecError(f"--engine must be 'implicit' or 'spark', got {engine!r}.")
    index = Index.open(settings)
    folder = models_dir(index.path) / check_name(model or rs.model or DEFAULT_MODEL)
    if if_missing and (folder / "ranker.json").exists():
        console.print(f"[green]Trained[/] {folder.name} for {index.name} (already) · {folder}")
        return
    options = TrainOptions(
        engine=engine,
        spark_master=spark_master or rs.spark_master,
        tune=rs.tune and not no_tune,
        cold_tolerance=rs.cold_tolerance,
        seed=rs.seed,
    )
    ranker, path, _ = train_ranker(index, model or rs.model, options, log=(lambda m: None) if quiet else _log_line)
    console.print(
        f"[green]Trained[/] {ranker.info.name} for {index.name} with {engine} in {ranker.info.train_s:.1f}s · {path}"
    )


@evaluate_app.command("offline")
@user_errors
def evaluate_offline(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for offline.md/.json/.png [HOME/reports/offline/CATALOG].")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="Only these convrec rankers (repeat).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Smaller grids and fewer models (a fast check).")] = False,
    spark: Annotated[bool, typer.Option("--spark/--no-spark", help="Also train Spark MLlib ALS (local mode).")] = False,
    spark_master: Annotated[str | None, typer.Option("--spark-master", help="Spark master URL.")] = None,
    peers: Annotated[bool, typer.Option("--peers/--no-peers", help="Run the peer models.")] = True,
    seed: Annotated[int, typer.Option("--seed", help="Split seed.")] = 42,
) -> None:
    """Offline top-N evaluation: convrec's rankers and peers on one split, side by side."""
    from convrec.eval.offline import OfflineConfig, markdown_table, run_offline, write_report
    from convrec.ranking.train import MODELS
    from convrec.retrieval.index import Index

    settings = _settings(ctx)
    for name in model or []:
        if name not in MODELS:
            raise ConvrecError(f"Unknown model {name!r}; choose from: {', '.join(MODELS)}.")
    index = Index.open(settings)
    config = OfflineConfig(
        seed=seed,
        quick=quick,
        models=tuple(model) if model else None,
        peers=peers,
        spark=spark,
        spark_master=spark_master or settings.ranking.spark_master,
        cold_tolerance=settings.ranking.cold_tolerance,
    )
    report = run_offline(index, config, log=_log_line)
    paths = write_report(report, out or settings.home / "reports" / "offline" / index.name)
    console.print(markdown_table(report), highlight=False, soft_wrap=True)
    console.print(f"Protocol: {report['protocol']}", highlight=False, soft_wrap=True)
    console.print("Wrote " + ", ".join(str(p) for p in paths.values()), highlight=False, soft_wrap=True)


@app.command()
@user_errors
def recommend(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="What you are looking for (optional).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="A user id from the catalog's interactions.")] = None,
    like: Annotated[list[str] | None, typer.Option("--like", help="An item id you liked (repeat).")] = None,
    dislike: Annotated[list[str] | None, typer.Option("--dislike", help="An item id you disliked (repeat).")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Which trained ranker.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many results.")] = 10,
    candidates: Annotated[int, typer.Option("--candidates", min=1, max=2000, help="Candidates to rerank.")] = 100,
) -> None:
    """Rank candidates for a person: retrieve by QUERY (or take the most popular items), then
    rerank with the trained ranker; shows the score parts and the evidence."""
    from convrec.ranking import UserProfile, load_ranker
    from convrec.retrieval.filters import SearchFilters
    from convrec.retrieval.index import Index

    settings = _settings(ctx)
    index = Index.open(settings)
    ranker = load_ranker(index, model or settings.ranking.model)
    profile = UserProfile(user_id=user, liked={i: 1.0 for i in like or []}, disliked=set(dislike or []))
    state, ignored = ranker.resolve(profile)
    if ignored:
        err_console.print(f"Ignored unknown item ids: {', '.join(ignored)}", highlight=False)
    if user is not None and state.row is None:
        err_console.print(f"User {user!r} is not in the training data; using the liked items only.", highlight=False)
    exclude = [index.catalog.items[int(j)].id for j in state.items]
    if query and query.strip():
        hits = index.search(query, k=candidates, filters=SearchFilters(exclude_ids=exclude))
        cands: list[tuple[str, float]] | list[str] = [(h.item.id, h.score) for h in hits]
    else:
        seen = set(exclude)
        order = sorted(range(len(index.catalog)), key=lambda j: -ranker.counts_[j])
        cands = [index.catalog.items[j].id for j in order if index.catalog.items[j].id not in seen][:candidates]
    ranked = ranker.rank(profile, cands)[:k]
    table = Table(title=f"{index.name} · ranker {ranker.info.name or 'untrained'} · {len(cands)} candidates")
    for col in ("#", "id", "title", "score", "parts", "evidence"):
        table.add_column(col, overflow="fold")
    for n, item in enumerate(ranked, 1):
        parts = ", ".join(f"{name} {v:+.2f}" for name, v in item.parts.items() if abs(v) >= 0.005)
        evidence = "; ".join(_describe_evidence(e, index) for e in item.evidence[:3])
        table.add_row(str(n), item.item_id, index.catalog.get(item.item_id).title, f"{item.score:.3f}", parts, evidence)
    console.print(table)


def _describe_evidence(ev: dict[str, Any], index: Any) -> str:
    def title(item_id: str) -> str:
        try:
            return index.catalog.get(item_id).title
        except ConvrecError:
            return item_id

    kind = ev.get("kind")
    if kind == "kg":
        return f"shares {ev['relation']} with {title(ev['liked_item'])}"
    if kind == "similar_to_liked":
        return f"like {title(ev['liked_item'])} ({ev['basis']} {ev['similarity']:.2f})"
    if kind == "co_liked":
        return f"{ev['users']} who liked {title(ev['liked_item'])} also liked it"
    if kind == "matches_request":
        return f"matches request ({ev['similarity']:.2f})"
    if kind == "popular":
        return f"popular ({ev['interactions']} people)"
    return str(kind)

# --- evaluation: scripted dialogue suites and the user simulator (logic in convrec.eval) -------


@app.command("eval")
@user_errors
def eval_suites(
    ctx: typer.Context,
    suites: Annotated[list[Path], typer.Argument(help="Suite YAML files or folders of them (e.g. eval/).")],
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Rules-only parsing and template replies.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Folder for report.md, report.json and suites.png.")] = Path(
        "eval-report"
    ),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Replay dialogue suites against the agent and write a report; exit 1 if an expectation fails."""
    from convrec.agent.turn import Agent
    from convrec.eval.dialogues import load_suite, suite_files, DialogueRunner
    from convrec.eval.report import write_suite_report

    loaded = [load_suite(p) for p in suite_files(suites)]  # a malformed suite fails before any model loads
    agent = Agent.from_settings(_settings(ctx), llm=None if no_llm else "auto")
    results = DialogueRunner(agent, progress=not quiet).run(loaded)
    paths = write_suite_report(results, out)
    s = results.summary()
    rate = s["constraint_satisfaction"]
    console.print(
        f"{s['passed']}/{s['dialogues']} dialogues passed · {s['checks_passed']}/{s['checks']} checks · "
        f"constraint satisfaction {'n/a' if rate is None else f'{100 * rate:.1f}%'} · "
        f"hallucinated titles {s['hallucinated_titles']}"
    )
    for d in results.dialogues:
        if not d.passed:
            first = next((c for c in d.checks if not c.passed), None)
            why = d.error or (f"{first.kind}: {first.detail}" if first else "failed")
            console.print(f"[red]FAIL[/] {d.suite}/{d.id}: {why}", highlight=False, soft_wrap=True)
    console.print(f"report: {paths['markdown']}")
    if not results.passed:
        raise typer.Exit(1)


@evaluate_app.command("simulate")
@user_errors
def evaluate_simulate(
    ctx: typer.Context,
    users: Annotated[int, typer.Option(min=1, help="How many held-out test users to simulate.")] = 100,
    max_turns: Annotated[int, typer.Option(min=1, max=7, help="Turns per simulated dialogue.")] = 5,
    systems: Annotated[
        str, typer.Option(help="Comma-separated: convrec, cf_only, semantic_only, popularity, llm_zero_shot, or all.")
    ] = "",
    no_llm: Annotated[
        bool, typer.Option("--no-llm", help="The agent runs rules-only; llm_zero_shot runs only if named in --systems.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed for the split, the users and their phrasing.")] = 42,
    quick: Annotated[bool, typer.Option("--quick", help="Smaller tuning grids when training on the split.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Folder for simulator.md, .json and .png.")] = Path(
        "eval-report/simulator"
    ),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Simulated users over held-out MovieLens interactions: convrec and baselines, Hit@k by turn."""
    from convrec.eval.report import write_simulation_report
    from convrec.eval.simulator import SYSTEMS, simulate

    settings = _settings(ctx)
    names = [n.strip() for n in systems.split(",") if n.strip()]
    if not names:
        names = [n for n in SYSTEMS if not (no_llm and n == "llm_zero_shot")]
    elif names == ["all"]:
        names = list(SYSTEMS)
    unknown = sorted(set(names) - set(SYSTEMS))
    if unknown:
        raise ConvrecError(f"Unknown system(s) {', '.join(unknown)}; choose from {', '.join(SYSTEMS)}.")
    llm = None
    if (not no_llm and "convrec" in names) or "llm_zero_shot" in names:
        from convrec.agent.llm import make_backend

        llm = make_backend(settings)
    log = (lambda m: None) if quiet else (lambda m: err_console.print(m, highlight=False))
    result = simulate(
        settings, n_users=users, max_turns=max_turns, systems=names, agent_llm=None if no_llm else llm,
        zero_shot_llm=llm, seed=seed, quick_training=quick, progress=not quiet, log=log,
    )
    data = {**result.to_json(), "transcripts": result.transcripts()}
    paths = write_simulation_report(data, out)
    table = Table(title=f"Hit@10 by turn · {data['users']} users")
    table.add_column("system")
    for t in range(1, data["max_turns"] + 1):
        table.add_column(f"turn {t}", justify="right")
    table.add_column("mean turns", justify="right")
    for name, values in data["hit_at_10_by_turn"].items():
        table.add_row(name, *(f"{v:.3f}" for v in values), f"{data['mean_turns'][name]:.2f}")
    console.print(table)
    console.print(f"report: {paths['markdown']}")


# --- serving: REST API and chat page ---------------------------------------------------------------

LLM_OPTION = typer.Option("--llm/--no-llm", help="Use the configured LLM; --no-llm: rules-only parser, template replies.")
TOKEN_OPTION = typer.Option(
    envvar="CONVREC_TOKEN", help="Bearer token clients must send; required off-loopback [$CONVREC_TOKEN]."
)


def _serve(ctx: typer.Context, host: str, port: int, token: str | None, llm: bool) -> None:
    from convrec.ui.api import serve as run_server

    run_server(_settings(ctx), host=host, port=port, token=token, llm="auto" if llm else None, announce=console.print)


HOST_OPTION = typer.Option(help="Address to listen on; anything but loopback needs --token.")


@app.command()
@user_errors
def serve(
    ctx: typer.Context,
    host: Annotated[str, HOST_OPTION] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    token: Annotated[str | None, TOKEN_OPTION] = None,
    llm: Annotated[bool, LLM_OPTION] = True,
) -> None:
    """REST API (OpenAPI at /docs) with the chat page at /ui."""
    _serve(ctx, host, port, token, llm)


@app.command()
@user_errors
def ui(
    ctx: typer.Context,
    host: Annotated[str, HOST_OPTION] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 7860,
    token: Annotated[str | None, TOKEN_OPTION] = None,
    llm: Annotated[bool, LLM_OPTION] = True,
) -> None:
    """The chat page (http://127.0.0.1:7860 by default); the REST API is served alongside."""
    _serve(ctx, host, port, token, llm)


@app.command("llm-serve")
@user_errors
def llm_serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for other machines).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    model: Annotated[str | None, typer.Option(help="Packaged model [llm.model].")] = None,
    quantization: Annotated[str | None, typer.Option(help="auto, nf4, int8, bf16, fp16 or fp32.")] = None,
    model_id: Annotated[str | None, typer.Option(help="Model id clients ask for; default: the model name.")] = None,
) -> None:
    """Serve the local LLM as an OpenAI-compatible API (/v1/chat/completions, /v1/models)."""
    from convrec.agent.llm import make_backend
    from convrec.agent.llm_server import serve

    settings = _settings(ctx)
    llm = settings.llm.model_copy(
        update={k: v for k, v in {"model": model, "quantization": quantization}.items() if v is not None}
    )
    settings = load_settings(**{**settings.model_dump(), "llm": {**llm.model_dump(), "backend": "local"}})
    backend = make_backend(settings, log=lambda m: err_console.print(m, highlight=False))
    assert backend is not None  # llm.backend was set to "local" above
    err_console.print(f"Serving {backend.name} on http://{host}:{port}/v1", highlight=False)
    serve(backend, model_id or settings.llm.model, host, port, settings.llm.max_new_tokens)


@app.command()
@user_errors
def parse(
    ctx: typer.Context,
    messages: Annotated[list[str], typer.Argument(help="Messages, read as the turns of one conversation.")],
    llm: Annotated[bool, typer.Option("--llm/--no-llm", help="Also ask the configured LLM (slow on a CPU).")] = False,
) -> None:
    """Show how messages are understood: each turn's reading, then the conversation's filters."""
    import json

    from convrec.agent.parse import PreferenceParser
    from convrec.agent.state import DialogueState
    from convrec.retrieval.loaders import load_catalog

    settings = _settings(ctx)
    source = settings.catalogs.get(settings.catalog, settings.catalog)
    catalog = load_catalog(source, settings.data_dir)
    backend = None
    if llm:
        from convrec.agent.llm import make_backend

        backend = make_backend(settings, log=lambda m: err_console.print(m, highlight=False))
    parser = PreferenceParser.for_catalog(catalog, backend, mapping=source if str(source).endswith(".toml") else None)
    state = DialogueState()
    for n, text in enumerate(messages, 1):
        result = parser.read(text)
        change = state.apply(result.prefs, catalog)
        console.print(f"[bold]{n}. {text}[/]", highlight=False)
        console.print(f"   reads: {result.prefs.describe()}", highlight=False)
        if result.llm_called:
            console.print(f"   model: {result.llm_json or result.llm_error} ({result.llm_seconds:.1f} s)", highlight=False)
        for note in [*change.notes, *(f"nothing shown to match {u}" for u in change.unresolved)]:
            console.print(f"   note: {note}", highlight=False)
    request = state.request()
    console.print(f"[bold]understood:[/] {state.describe()}", highlight=False)
    console.print(json.dumps(request.model_dump(mode="json", exclude_defaults=True), indent=2), highlight=False)


def run() -> None:  # console-script entry point
    try:
        app()
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    run()
