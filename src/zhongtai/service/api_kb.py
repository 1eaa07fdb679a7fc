"""Customer service HTTP API: the knowledge base (draft, import/export, publish, versions, "try
a question") under /api/v1/service/kb, and the bot's channel settings under
/api/v1/service/settings. Reads need service:read, changes service:write."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Response, UploadFile
from pydantic import BaseModel

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.db import utcnow
from zhongtai.errors import FieldProblem, ValidationFailed
from zhongtai.http import DbSession, require
from zhongtai.service import kb
from zhongtai.service.schemas_kb import (
    ExamplesIn,
    ImportResultOut,
    IntentIn,
    IntentOut,
    IntentPatch,
    KbDiffOut,
    PublishIn,
    ScenarioIn,
    ScenarioOut,
    ScenarioPatch,
    ServiceKbVersionOut,
    ServiceSettingsIn,
    ServiceSettingsOut,
    ServiceSettingsPublicOut,
    SubIntentIn,
    SubIntentOut,
    SubIntentPatch,
    TreeOut,
    TryIn,
    TryOut,
)

router = APIRouter(tags=["service"])

Read = Annotated[Principal, Depends(require(Perm.SERVICE_READ))]
Write = Annotated[Principal, Depends(require(Perm.SERVICE_WRITE))]
MAX_IMPORT_BYTES = 10 * 1024 * 1024


class ExamplesAdded(BaseModel):
    added: int
    subintent: SubIntentOut


# ---------------------------------------------------------------- the draft


@router.get("/service/kb/tree", response_model=TreeOut)
def get_tree(session: DbSession, _: Read) -> TreeOut:
    """The whole draft: scenarios → intents → sub-intents with their counts."""
    return kb.tree(session)


@router.post("/service/kb/scenarios", response_model=ScenarioOut, status_code=201)
def post_scenario(body: ScenarioIn, session: DbSession, actor: Write) -> ScenarioOut:
    return kb.create_scenario(
        session, actor, code=body.code, name=body.name, name_en=body.name_en, position=body.position
    )


@router.put("/service/kb/scenarios/{code}", response_model=ScenarioOut)
def put_scenario(code: str, body: ScenarioPatch, session: DbSession, actor: Write) -> ScenarioOut:
    return kb.update_scenario(session, actor, code, body.model_dump(exclude_unset=True))


@router.delete("/service/kb/scenarios/{code}", status_code=204)
def delete_scenario(code: str, session: DbSession, actor: Write) -> Response:
    kb.delete_scenario(session, actor, code)
    return Response(status_code=204)


@router.post("/service/kb/intents", response_model=IntentOut, status_code=201)
def post_intent(body: IntentIn, session: DbSession, actor: Write) -> IntentOut:
    return kb.create_intent(
        session,
        actor,
        scenario_code=body.scenario_code,
        code=body.code,
        name=body.name,
        name_en=body.name_en,
        position=body.position,
    )


@router.put("/service/kb/intents/{code}", response_model=IntentOut)
def put_intent(code: str, body: IntentPatch, session: DbSession, actor: Write) -> IntentOut:
    return kb.update_intent(session, actor, code, body.model_dump(exclude_unset=True))


@router.delete("/service/kb/intents/{code}", status_code=204)
def delete_intent(code: str, session: DbSession, actor: Write) -> Response:
    kb.delete_intent(session, actor, code)
    return Response(status_code=204)


@router.get("/service/kb/subintents/{code}", response_model=SubIntentOut)
def get_subintent(code: str, session: DbSession, _: Read) -> SubIntentOut:
    return kb.subintent_detail(session, code)


@router.post("/service/kb/subintents", response_model=SubIntentOut, status_code=201)
def post_subintent(body: SubIntentIn, session: DbSession, actor: Write) -> SubIntentOut:
    return kb.create_subintent(
        session,
        actor,
        intent_code=body.intent_code,
        code=body.code,
        name=body.name,
        name_en=body.name_en,
        action=body.action,
        slots=body.slots,
        examples=body.examples,
        enabled=body.enabled,
        answers=[a.model_dump() for a in body.answers],
    )


@router.put("/service/kb/subintents/{code}", response_model=SubIntentOut)
def put_subintent(code: str, body: SubIntentPatch, session: DbSession, actor: Write) -> SubIntentOut:
    """Changes the fields sent; ``answers`` replaces every variant at once."""
    changes = body.model_dump(exclude_unset=True)
    return kb.update_subintent(session, actor, code, changes)


@router.delete("/service/kb/subintents/{code}", status_code=204)
def delete_subintent(code: str, session: DbSession, actor: Write) -> Response:
    kb.delete_subintent(session, actor, code)
    return Response(status_code=204)


@router.post("/service/kb/subintents/{code}/examples", response_model=ExamplesAdded)
def post_examples(code: str, body: ExamplesIn, session: DbSession, actor: Write) -> ExamplesAdded:
    """Adds example questions (those the sub-intent already has are skipped)."""
    added = kb.add_examples(session, actor, code, body.examples)
    return ExamplesAdded(added=added, subintent=kb.subintent_detail(session, code))


# ---------------------------------------------------------------- files


@router.post("/service/kb/import", response_model=ImportResultOut)
async def post_import(
    file: UploadFile,
    session: DbSession,
    actor: Write,
    mode: Annotated[Literal["merge", "replace"], Form()] = "merge",
    dry_run: Annotated[bool, Form()] = False,
    format: Annotated[Literal["yaml", "csv"] | None, Form()] = None,
) -> ImportResultOut:
    """Imports a YAML or CSV file into the draft, all or nothing; the format comes from the file
    name (.yaml/.yml/.csv) unless given. ``dry_run`` reports the counts and writes nothing."""
    data = await file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationFailed(
            "file too large",
            errors=[FieldProblem("file", "too_large", f"at most {MAX_IMPORT_BYTES // 1024 // 1024} MB")],
        )
    fmt = format or _format_of(file.filename or "")
    if fmt is None:
        raise ValidationFailed(
            "unknown format",
            errors=[FieldProblem("format", "unknown_format", "name the file .yaml, .yml or .csv, or send format")],
        )
    return kb.import_kb(session, actor, data, fmt, mode=mode, dry_run=dry_run)


def _format_of(filename: str) -> Literal["yaml", "csv"] | None:
    lowered = filename.lower()
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    if lowered.endswith(".csv"):
        return "csv"
    return None


@router.get("/service/kb/export")
def get_export(session: DbSession, _: Read, format: Annotated[Literal["yaml", "csv"], Query()] = "yaml") -> Response:
    """The whole draft as a file that imports back to the same draft."""
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    media = "application/yaml; charset=utf-8" if format == "yaml" else "text/csv; charset=utf-8"
    return Response(
        kb.export_kb(session, format),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="kb-{stamp}.{format}"'},
    )


# ---------------------------------------------------------------- versions


@router.post("/service/kb/publish", response_model=ServiceKbVersionOut, status_code=201)
def post_publish(session: DbSession, actor: Write, body: PublishIn | None = None) -> ServiceKbVersionOut:
    """Freezes the draft into a new version and retrains the intent model (seconds)."""
    return kb.publish(session, actor, note=body.note if body else "")


@router.get("/service/kb/versions", response_model=list[ServiceKbVersionOut])
def get_versions(
    session: DbSession, _: Read, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[ServiceKbVersionOut]:
    return kb.versions(session, limit=limit)


@router.get("/service/kb/diff", response_model=KbDiffOut)
def get_diff(session: DbSession, _: Read) -> KbDiffOut:
    """What publishing now would change: sub-intents added, removed and changed since the newest version."""
    return kb.diff(session)


@router.post("/service/kb/versions/{version}/restore", response_model=ImportResultOut)
def post_restore(version: int, session: DbSession, actor: Write) -> ImportResultOut:
    """Makes the draft what it was when ``version`` was published (publish again to serve it)."""
    return kb.restore(session, actor, version)


@router.post("/service/kb/try", response_model=TryOut)
def post_try(body: TryIn, session: DbSession, _: Read) -> TryOut:
    """What the published bot understands from a question, and the answer variant it would use."""
    return kb.try_question(session, body.question, channel_code=body.channel_code, scene=body.scene)


# ---------------------------------------------------------------- settings


def _public(settings: ServiceSettingsOut) -> ServiceSettingsPublicOut:
    data = settings.model_dump(exclude={"webhook_token"})
    return ServiceSettingsPublicOut(**data, webhook_token_set=bool(settings.webhook_token))


@router.get("/service/settings", response_model=ServiceSettingsPublicOut)
def get_default_settings(session: DbSession, _: Read) -> ServiceSettingsPublicOut:
    """The default settings every channel without its own inherits."""
    return _public(kb.settings_for(session, ""))


@router.put("/service/settings", response_model=ServiceSettingsPublicOut)
def put_default_settings(body: ServiceSettingsIn, session: DbSession, actor: Write) -> ServiceSettingsPublicOut:
    return _public(kb.update_settings(session, actor, "", body.model_dump(exclude_unset=True)))


@router.get("/service/settings/{channel_code}", response_model=ServiceSettingsPublicOut)
def get_settings(channel_code: str, session: DbSession, _: Read) -> ServiceSettingsPublicOut:
    """A channel's settings (``inherited`` when it has none of its own)."""
    return _public(kb.channel_settings(session, channel_code))


@router.put("/service/settings/{channel_code}", response_model=ServiceSettingsPublicOut)
def put_settings(
    channel_code: str, body: ServiceSettingsIn, session: DbSession, actor: Write
) -> ServiceSettingsPublicOut:
    return _public(kb.update_settings(session, actor, channel_code, body.model_dump(exclude_unset=True)))
