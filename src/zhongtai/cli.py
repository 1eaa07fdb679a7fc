"""The ``zhongtai`` command."""

from __future__ import annotations

from typing import Annotated

import click
import typer
from rich.console import Console

from zhongtai.settings import get_settings

app = typer.Typer(help="Zhongtai 中台: retail middle platform", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations)", no_args_is_help=True)
demo_app = typer.Typer(help="The demo retailer", no_args_is_help=True)
users_app = typer.Typer(help="Users and API keys", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(users_app, name="users")
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


def main() -> None:
    """Entry point: domain errors become one readable line and exit code 1, not a traceback."""
    from zhongtai.errors import DomainError

    try:
        app(standalone_mode=False)
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
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    main()
