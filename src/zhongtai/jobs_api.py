"""Job status for progress bars (API and console polling)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.auth.scoping import ensure_location_access
from zhongtai.errors import not_found
from zhongtai.http import DbSession, require
from zhongtai.jobs import get_job

router = APIRouter(tags=["jobs"])


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    status: str
    progress: int
    total: int
    message: str
    result: dict[str, Any] | None
    error: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@router.get("/jobs/{job_id}", response_model=JobOut)
def job_status(
    job_id: int, session: DbSession, principal: Annotated[Principal, Depends(require(Perm.JOBS_READ))]
) -> JobOut:
    job = get_job(session, job_id)
    if principal.is_store_scoped:
        # A store-scoped user sees their own jobs for their own stores, nothing else.
        if job.created_by_user_id != principal.id:
            raise not_found("job", job_id)
        if job.location_id is not None:
            ensure_location_access(principal, job.location_id)
    return JobOut.model_validate(job)
