"""The ``zhongtai`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console

from zhongtai.analytics.cli import app as analytics_app
from zhongtai.forecasting.cli import app as forecast_app
from zhongtai.service.cli import app as service_app
from zhongtai.settings import get_settings

app = typer.Typer(help="Zhongtai 中台: retail middle platform", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations)", no_args_is_help=True)
demo_app = typer.Typer(help="The demo retailer", no_args_is_help=True)
users_app = typer.Typer(help="Users and API keys", no_args_is_help=True)
members_app = typer.Typer(help="Member center (OneID)", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(users_app, name="users")
app.add_typer(members_app, name="members")
app.add_typer(forecast_app, name="forecast")
app.add_typer(service_app, name="service")
app.add_typer(analytics_app, name="analytics")
out = Console()


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database (ZHONGTAI_DATABASE_URL) up to REVISION."""
    from zhongtai.db import upgrade

    upgrade(get_settings().database_url, revision)
    out.print(f"[green]database at {revision}[/green]")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Migrate down to REVISION (``base`` empties the schema)."""
    from zhongtai.db import downgrade

    downgrade(get_settings().database_url, revision)
    out.print(f"[yellow]database at {revision}[/yellow]")


@db_app.command("current")
def db_current() -> None:
    from alembic import command

    from zhongtai.db import alembic_config

    command.current(alembic_config(get_settings().database_url))


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("-m")], autogenerate: bool = True) -> None:
    """Write a new date-named migration (developers)."""
    from alembic import command

    from zhongtai.db import alembic_config

    command.revision(alembic_config(get_settings().database_url), message=message, autogenerate=autogenerate)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, reload: bool = False) -> None:
    """Serve the console and the API."""
    import uvicorn

    uvicorn.run(
        "zhongtai.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        access_log=False,
        log_level="warning",
        limit_concurrency=get_settings().max_concurrent_requests,
    )


@app.command()
def worker(once: bool = False) -> None:
    """Run background jobs and schedules outside the web process."""
    from zhongtai.app import register_tasks
    from zhongtai.db import Database
    from zhongtai.jobs import Worker, run_pending

    register_tasks()
    db = Database.from_settings(get_settings())
    if once:
        out.print(f"ran {run_pending(db)} job(s)")
        return
    w = Worker(db, get_settings().worker_poll_s)
    out.print("worker running; Ctrl-C to stop")
    try:
        while True:
            w.tick()
            import time

            time.sleep(get_settings().worker_poll_s)
    except KeyboardInterrupt:
        pass


@users_app.command("create")
def users_create(
    username: str,
    role: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    display_name: str = "",
    store: Annotated[list[str] | None, typer.Option(help="store location code (repeat)")] = None,
) -> None:
    """Create a console user."""
    from zhongtai.auth import service as auth_service
    from zhongtai.auth.principal import Principal
    from zhongtai.db import Database
    from zhongtai.inventory import service as inventory_service

    db = Database.from_settings(get_settings())
    with db.transaction() as session:
        store_ids = [inventory_service.get_location_by_code(session, code).id for code in store or []]
        user = auth_service.create_user(
            session,
            Principal.system("cli"),
            username=username,
            display_name=display_name or username,
            password=password,
            role=role,
            store_ids=store_ids,
        )
        out.print(f"created user {user.username} (id {user.id}, role {user.role})")


@users_app.command("create-key")
def users_create_key(name: str, role: str = "integrator", channel: str | None = None) -> None:
    """Issue an API key (printed once)."""
    from zhongtai.auth import service as auth_service
    from zhongtai.auth.principal import Principal
    from zhongtai.db import Database

    db = Database.from_settings(get_settings())
    with db.transaction() as session:
        issued = auth_service.create_api_key(
            session, Principal.system("cli"), name=name, role=role, channel_code=channel
        )
        out.print(f"API key for {name} ({role}): [bold]{issued.secret}[/bold]  (shown once)")


@demo_app.command("load")
def demo_load(
    seed: int = 42,
    scale: Annotated[str, typer.Option(help="small | full")] = "full",
    if_empty: Annotated[bool, typer.Option("--if-empty", help="do nothing when data exists")] = False,
) -> None:
    """Load the demo retailer (deterministic for a seed)."""
    from zhongtai.db import Database
    from zhongtai.demo.loader import load_demo

    db = Database.from_settings(get_settings())
    load_demo(db, seed=seed, scale=scale, if_empty=if_empty, console=out, settings=get_settings())


ATTR_HELP = (
    "COL=KIND, repeated. KIND: phone, email, unionid, openid@APP, card, jd_pin, tmall_uid, device "
    "(strong: link for certain), given_name, surname, full_name, birthday, id_number, address, "
    "street_number, city, postcode, state (weak: the probabilistic model)"
)


def _column_kinds(attr: list[str]) -> dict[str, Any]:
    from zhongtai.members import batch

    attrs: dict[str, batch.ColumnKind] = {}
    for item in attr:
        col, sep, kind = item.partition("=")
        if not sep or not col.strip() or not kind.strip():
            raise typer.BadParameter(f"{item!r}: expected COL=KIND", param_hint="--attr")
        try:
            attrs[col.strip()] = batch.parse_kind(kind)
        except batch.InputProblem as exc:
            raise typer.BadParameter(str(exc), param_hint="--attr") from None
    return attrs


@members_app.command("import")
def members_import(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="CSV or Parquet file of a legacy member list")],
    id_col: Annotated[str, typer.Option("--id", help="the column holding each record's id")],
    attr: Annotated[list[str], typer.Option("--attr", help=ATTR_HELP)],
    channel: Annotated[str, typer.Option(help="the channel the list comes from (shown on the card)")] = "import",
    probabilistic: Annotated[bool, typer.Option("--probabilistic/--no-probabilistic")] = True,
) -> None:
    """Import a legacy member list: cluster it with the batch matcher, then join each person to the
    live identity graph (a phone or card the graph knows joins that member). Re-running is safe."""
    from rich.progress import Progress

    from zhongtai.auth.principal import Principal
    from zhongtai.db import Database
    from zhongtai.members import batch, importer

    attrs = _column_kinds(attr)
    try:
        loaded = batch.load_records(input_path, id_col, attrs)
    except batch.InputProblem as exc:
        raise typer.BadParameter(str(exc), param_hint=exc.param or None) from None
    out.print(f"clustering {len(loaded.records):,} records ...")
    result = batch.stitch(loaded.records, probabilistic=probabilistic)
    db = Database.from_settings(get_settings())
    with Progress(console=out) as bar:
        task = bar.add_task("importing", total=None)
        summary = importer.import_clusters(
            db,
            Principal.system("members import"),
            loaded.records,
            result,
            source_name=input_path.name,
            channel_code=channel,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    out.print(
        f"records {summary.records:,}, people {summary.clusters:,} "
        f"(skipped without a strong identifier: {summary.skipped_without_identifier:,}); "
        f"members {summary.members_before:,} -> {summary.members_after:,}"
    )


@members_app.command("match")
def members_match(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="CSV or Parquet file of person records")],
    id_col: Annotated[str, typer.Option("--id", help="the column holding each record's id")],
    attr: Annotated[
        list[str],
        typer.Option("--attr", help=ATTR_HELP),
    ],
    out_path: Annotated[Path, typer.Option("--out", help="CSV or Parquet: the record id and its cluster_id")],
    probabilistic: Annotated[
        bool, typer.Option("--probabilistic/--no-probabilistic", help="match on weak attributes too (Splink)")
    ] = True,
    backend: Annotated[str, typer.Option(help="Splink backend: duckdb, or spark (needs pyspark)")] = "duckdb",
) -> None:
    """Cluster a file of person records into members, the way the live identity graph stitches.

    Writes OUT (record id, cluster_id) and the review pairs beside it (OUT's name + .review.csv)."""
    import time

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from zhongtai.members import batch, matching

    attrs = _column_kinds(attr)
    try:
        if probabilistic:
            matching.check_backend(backend)
    except (ValueError, matching.MatchingUnavailable) as exc:
        raise typer.BadParameter(str(exc), param_hint="--backend") from None
    try:
        batch.file_format(out_path)
    except batch.InputProblem as exc:
        raise typer.BadParameter(str(exc), param_hint="--out") from None

    started = time.perf_counter()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=out) as bar:
        current, current_at = f"reading {input_path.name}", time.perf_counter()
        task = bar.add_task(current, total=None)

        def step(description: str) -> None:
            nonlocal current, current_at
            bar.console.print(f"  [dim]{current}: {time.perf_counter() - current_at:.1f} s[/dim]")
            current, current_at = description, time.perf_counter()
            bar.update(task, description=description)

        try:
            loaded = batch.load_records(input_path, id_col, attrs)
            result = batch.stitch(loaded.records, probabilistic=probabilistic, progress=step, backend=backend)
        except batch.InputProblem as exc:
            raise typer.BadParameter(str(exc), param_hint=exc.param or None) from None
        review_file = batch.write_result(result, out_path, id_column=id_col)
        step("done")
    seconds = time.perf_counter() - started
    clusters = len(set(result.cluster_of.values()))
    out.print(f"records                  {len(loaded.records):>10,}")
    for col, count in loaded.invalid.items():
        out.print(f"  invalid {col:<16} {count:>10,}  (dropped)")
    out.print(f"deterministic clusters   {result.deterministic_clusters:>10,}")
    out.print(f"quarantined identifiers  {len(result.quarantined):>10,}")
    out.print(f"probabilistic merges     {len(result.merged_pairs):>10,}")
    out.print(f"clusters (members)       {clusters:>10,}")
    out.print(f"review pairs             {len(result.review_pairs):>10,}")
    out.print(f"seconds                  {seconds:>10.1f}")
    out.print(f"[green]wrote {out_path} and {review_file}[/green]")


def main() -> None:
    """Entry point: domain errors become one readable line and exit code 1, not a traceback."""
    from zhongtai.errors import DomainError

    try:
        # Outside standalone mode click returns a command's ``typer.Exit`` code instead of exiting.
        code = app(standalone_mode=False)
    except DomainError as exc:
        out.print(f"[red]{exc.code}[/red]: {exc.detail or exc.title}")
        for problem in exc.errors:
            out.print(f"  {problem.field}: {problem.message}")
        raise SystemExit(1) from None
    except (typer.Abort, KeyboardInterrupt):
        raise SystemExit(130) from None
    except click.exceptions.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except typer.TyperException as exc:  # typer >= 0.29 bundles click: its usage errors are not click's
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        raise SystemExit(getattr(exc, "exit_code", 1)) from None
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    if isinstance(code, int) and code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
