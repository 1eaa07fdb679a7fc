"""Background jobs and named schedules.

A job is a row (kind, params, optional uploaded input) run by the in-process worker (a thread
started with the app, or ``zhongtai worker``), which records progress as it goes so the console
can show a bar. Handlers take the job's id through a ``JobContext``, open their own sessions and
are safe to re-run. Contexts register handlers and schedules from their ``tasks.py``; ``app.py``
and ``cli.py`` import those modules (wiring lives at the top).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, String, Text, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from zhongtai.auth.principal import Principal
from zhongtai.db import Base, BigIntPK, Database, utcnow
from zhongtai.errors import DomainError, PermissionDenied, not_found

log = logging.getLogger("zhongtai.jobs")


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)  # queued|running|succeeded|failed
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    input_blob: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
    input_name: Mapped[str] = mapped_column(String(255), default="")
    progress: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(String(255), default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_by_user_id: Mapped[int | None] = mapped_column(default=None)
    created_by_key_id: Mapped[int | None] = mapped_column(default=None)
    # The location the job works on, when there is one: scopes who may see it.
    location_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


@dataclass
class JobContext:
    db: Database
    job_id: int
    kind: str
    params: dict[str, Any]
    actor: Principal
    input_name: str = ""
    _last_report: float = field(default=0.0)

    def input_bytes(self) -> bytes:
        with self.db.transaction(write=False) as session:
            blob = session.scalar(select(Job.input_blob).where(Job.id == self.job_id))
        return blob or b""

    def progress(self, done: int, total: int, message: str = "", *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_report < 0.25 and done < total:
            return
        self._last_report = now
        with self.db.transaction() as session:
            session.execute(
                update(Job).where(Job.id == self.job_id).values(progress=done, total=total, message=message[:255])
            )


Handler = Callable[[JobContext], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


def job_handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


@dataclass(frozen=True)
class Schedule:
    name: str
    every_s: float
    run: Callable[[Database], object]


SCHEDULES: dict[str, Schedule] = {}


def schedule(name: str, every_s: float) -> Callable[[Callable[[Database], object]], Callable[[Database], object]]:
    def register(fn: Callable[[Database], object]) -> Callable[[Database], object]:
        SCHEDULES[name] = Schedule(name, every_s, fn)
        return fn

    return register


def enqueue(
    session: Session,
    actor: Principal,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    input_blob: bytes | None = None,
    input_name: str = "",
    location_id: int | None = None,
) -> Job:
    from zhongtai.auth.audit import record

    if kind not in HANDLERS:
        raise DomainError(f"no job kind {kind!r}")
    job = Job(
        kind=kind,
        params=params or {},
        input_blob=input_blob,
        input_name=input_name,
        created_by=actor.name,
        created_by_user_id=actor.id if actor.kind == "user" else None,
        created_by_key_id=actor.id if actor.kind == "api_key" else None,
        location_id=location_id,
    )
    session.add(job)
    session.flush()
    record(session, actor, "job.enqueue", "job", job.id, after={"kind": kind, "params": params or {}})
    return job


def has_pending(session: Session, kind: str) -> bool:
    """Whether a job of ``kind`` is queued or running (schedules use it not to pile up work)."""
    found = session.scalar(select(Job.id).where(Job.kind == kind, Job.status.in_(("queued", "running"))).limit(1))
    return found is not None


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise not_found("job", job_id)
    return job


def _claim(db: Database, job_id: int | None = None) -> Job | None:
    with db.transaction() as session:
        stmt = select(Job.id).where(Job.status == "queued").order_by(Job.id).limit(1)
        if job_id is not None:
            stmt = select(Job.id).where(Job.id == job_id, Job.status == "queued")
        candidate = session.scalar(stmt)
        if candidate is None:
            return None
        claimed = session.execute(
            update(Job).where(Job.id == candidate, Job.status == "queued").values(status="running", started_at=utcnow())
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return None  # another worker took it
        return session.get(Job, candidate)


def _actor_of(db: Database, job: Job) -> Principal:
    """The job acts as whoever started it (a user or an API key) with their role and store scope as
    they are now; only jobs started by the system itself act as the system."""
    from zhongtai.auth import service as auth_service

    with db.transaction(write=False) as session:
        if job.created_by_user_id is not None:
            user = auth_service.get_user(session, job.created_by_user_id)
            if not user.is_active:
                raise PermissionDenied("the user who started this job is no longer active")
            return auth_service.user_principal(session, user)
        if job.created_by_key_id is not None:
            principal = auth_service.principal_for_key_id(session, job.created_by_key_id)
            if principal is None:
                raise PermissionDenied("the API key that started this job was revoked")
            return principal
    return Principal.system(f"job:{job.kind}")


def run_job(db: Database, job: Job) -> None:
    handler = HANDLERS.get(job.kind)
    try:
        ctx = JobContext(db=db, job_id=job.id, kind=job.kind, params=dict(job.params), actor=_actor_of(db, job))
        if handler is None:
            raise RuntimeError(f"no handler for job kind {job.kind}")
        result = handler(ctx)
        status, error = "succeeded", None
    except Exception as exc:
        log.exception("job failed", extra={"fields": {"job_id": job.id, "kind": job.kind}})
        result = None
        status = "failed"
        error = str(exc) if isinstance(exc, DomainError) else "".join(traceback.format_exception_only(exc)).strip()
    with db.transaction() as session:
        values: dict[str, Any] = {"status": status, "result": result, "error": error, "finished_at": utcnow()}
        if status == "succeeded":
            values["message"] = ""
        session.execute(update(Job).where(Job.id == job.id).values(**values))


def run_pending(db: Database, *, limit: int = 100) -> int:
    """Runs queued jobs in this thread until none are left (tests, ``zhongtai worker --once``)."""
    done = 0
    while done < limit:
        job = _claim(db)
        if job is None:
            break
        run_job(db, job)
        done += 1
    return done


def run_schedule(db: Database, sched: Schedule) -> bool:
    """Runs one schedule unless another process runs it right now. Every web worker (and
    ``zhongtai worker``) has a Worker; on PostgreSQL a session advisory lock per schedule name lets
    one of them at a time run it, the others skip this turn. SQLite deployments have one process."""
    if db.engine.dialect.name != "postgresql":
        sched.run(db)
        return True
    key = {"k": f"schedule:{sched.name}"}
    with db.engine.connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), key).scalar()
        conn.commit()
        if not got:
            return False
        try:
            sched.run(db)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), key)
            conn.commit()
    return True


class Worker:
    """A daemon thread: queued jobs first, then whatever schedule is due."""

    def __init__(self, db: Database, poll_s: float = 1.0) -> None:
        self.db = db
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_run: dict[str, float] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="zhongtai-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def tick(self) -> None:
        job = _claim(self.db)
        if job is not None:
            run_job(self.db, job)
            return
        now = time.monotonic()
        for sched in list(SCHEDULES.values()):
            if now >= self._next_run.get(sched.name, 0.0):
                self._next_run[sched.name] = now + sched.every_s
                try:
                    run_schedule(self.db, sched)
                except Exception:
                    log.exception("schedule failed", extra={"fields": {"schedule": sched.name}})

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("worker tick failed")
            self._stop.wait(self.poll_s)
