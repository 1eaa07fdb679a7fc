"""The trainer loop's API shapes: clusters of unanswered questions, assigning them to a sub-intent
(existing or new) and ignoring them. Inputs check types only; ``service.trainer`` checks the rest."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainingItemOut(BaseModel):
    id: int
    text: str
    channel_code: str
    # What the bot guessed when the question came in, and how sure it was.
    guess: str | None
    confidence: float | None
    status: str
    subintent_code: str | None
    created_at: datetime


class ClusterGuessOut(BaseModel):
    """The published knowledge base's best guess for a cluster: the sub-intent most of its
    questions are classified as, that share, and the mean confidence of those predictions."""

    subintent_code: str
    name: str
    share: float
    confidence: float


class ClusterOut(BaseModel):
    # Stable for the same set of questions (a hash of their ids).
    id: str
    size: int
    representative: str
    representative_id: int
    items: list[TrainingItemOut]
    guess: ClusterGuessOut | None
    channels: list[str]
    first_seen: datetime
    last_seen: datetime


class NewSubIntentIn(_In):
    """A sub-intent created from a cluster: its questions become the examples."""

    intent_code: str
    code: str
    name: str
    name_en: str = ""
    answer_text: str = ""


class AssignIn(_In):
    item_ids: list[int] = Field(min_length=1)
    subintent_code: str | None = None
    new_subintent: NewSubIntentIn | None = None


class AssignOut(BaseModel):
    subintent_code: str
    # Items this call assigned; items someone else assigned or ignored first are ``skipped``.
    assigned: list[int]
    skipped: list[int]
    examples_added: int
    created: bool


class IgnoreIn(_In):
    item_ids: list[int] = Field(min_length=1)


class IgnoreOut(BaseModel):
    ignored: list[int]
    skipped: list[int]
