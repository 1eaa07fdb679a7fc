"""`zhongtai analytics ...`: run the sink, rebuild the lake, show its status."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from zhongtai.analytics import service
from zhongtai.analytics.lake import Lake
from zhongtai.analytics.sync import SyncReport
from zhongtai.db import Database
from zhongtai.settings import get_settings

app = typer.Typer(help="Data middle platform: the columnar store (lake)", no_args_is_help=True)
_out = Console()


def _print_report(report: SyncReport) -> None:
    table = Table("table", "rows", title=f"synced in {report.seconds:.2f} s" + (" (full)" if report.full else ""))
    for name, rows in report.rows.items():
        table.add_row(name, f"{rows:,}")
    _out.print(table)
    if report.wiped:
        _out.print("[yellow]the lake was emptied and filled again[/yellow]")
    if report.months:
        _out.print(f"sales months rewritten: {', '.join(report.months)}")
    _out.print(f"staged events not yet in the lake: {report.pending:,} (lag {report.lag_s:.1f} s)")


@app.command("sync")
def sync(full: Annotated[bool, typer.Option("--full", help="rewrite every sales month and snapshot")] = False) -> None:
    """Copy what is new (events, ledger, changed sales months, stale snapshots) into the lake."""
    settings = get_settings()
    db = Database.from_settings(settings)
    try:
        report = service.sync(
            db,
            Lake.for_settings(settings),
            full=full,
            tz=settings.default_timezone,
            purge_staged_days=settings.analytics_purge_staged_days,
        )
    finally:
        db.dispose()
    _print_report(report)


@app.command("rebuild")
def rebuild() -> None:
    """Empty the lake and fill it again from the database (staged events are the source)."""
    settings = get_settings()
    db = Database.from_settings(settings)
    try:
        report = service.rebuild(db, Lake.for_settings(settings), tz=settings.default_timezone)
    finally:
        db.dispose()
    _print_report(report)


@app.command("status")
def status() -> None:
    """Rows and files per lake table, watermarks, and the lag of staged events."""
    settings = get_settings()
    db = Database.from_settings(settings)
    try:
        st = service.status(db, Lake.for_settings(settings))
    finally:
        db.dispose()
    table = Table("table", "mode", "rows", "files", "partitions", "watermark", "synced at", title=st.root)
    for t in st.tables:
        table.add_row(
            t.name,
            t.mode,
            f"{t.rows:,}",
            str(t.files),
            str(t.partitions) if t.mode != "snapshot" else "",
            "" if t.watermark is None else str(t.watermark),
            t.synced_at.isoformat(timespec="seconds") if t.synced_at else "never",
        )
    _out.print(table)
    last = st.synced_at.isoformat(timespec="seconds") if st.synced_at else "never"
    _out.print(f"lake {st.lake_id or '(no identity yet)'}; last run {last}")
    _out.print(
        f"staged events not yet in the lake: {st.pending_events:,} (lag {st.lag_s:.1f} s; newest staged id "
        f"{st.newest_staged_id})"
    )
