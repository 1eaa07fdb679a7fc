"""The trainer loop: questions the bot could not answer well wait in a queue, grouped into clusters
of the same question asked in different words; a trainer assigns a cluster to a sub-intent (its
questions become example questions of the draft) or creates a new sub-intent from it, or ignores
it, then publishes, and the bot retrains.

* ``record_training_item`` is called by the dialogue when a customer message ends as a fallback,
  a failed clarification or a low-confidence hand-off; once per message.
* ``clusters`` groups the newest open questions (at most ``MAX_ITEMS``): character 1-3-gram
  vectors (sublinear term frequency; no IDF, see ``cluster_texts``) over the normalised text
  (简繁, full-width and case folded; punctuation, a leading greeting such as "你好，请问" and
  trailing particles dropped), cosine distance, average-linkage agglomerative clustering cut at
  ``DISTANCE_THRESHOLD``. Character grams suit Chinese, where the same question is reworded with
  the same key words in another order ("发票怎么开" / "怎么开发票"). A cluster's id is a hash of its
  questions' ids (the same questions, the same id), its representative is the question closest
  to its centroid, and its best guess is what the published classifier says about most of its
  questions (without a published version: what the bot guessed when they came in).
* ``assign`` / ``ignore`` claim the items with one conditional UPDATE (``WHERE status = 'open'``),
  so two trainers acting on the same questions at once cannot add them twice.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from zhongtai.auth import audit
from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.db import utcnow
from zhongtai.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from zhongtai.service import text as text_mod
from zhongtai.service import trainer_repository as repo
from zhongtai.service.models import TrainingItem
from zhongtai.service.schemas_trainer import (
    AssignOut,
    ClusterGuessOut,
    ClusterOut,
    IgnoreOut,
    NewSubIntentIn,
    TrainingItemOut,
)

STATUSES = ("open", "assigned", "ignored")
# Clustering looks at the newest this many questions of a status (bounded work per request).
MAX_ITEMS = 2000
# Cosine distance (1 - similarity of the gram vectors) at which clusters stop merging: average
# linkage at 0.75 keeps clusters pure on hand-written paraphrase sets while still joining a
# question with its reorderings and polite variants (0.8 starts merging different questions that
# share words, 0.7 splits rewordings).
DISTANCE_THRESHOLD = 0.75
# Questions per cluster the classifier is asked about for the cluster's best guess.
GUESS_SAMPLE = 20
MAX_LIMIT = 200
MAX_IDS = 500
MAX_TEXT = 2000

_PUNCT = re.compile(r"[\s\W_]+")
_PARTICLES = re.compile(r"(?:吗|呢|啊|吧|呀|么|嘛|哦|哈|了|的)+$")
_POLITE = re.compile(r"^(?:你好|您好|hi|hello|在吗|在不在|亲|请问一下|请问|麻烦问一下|麻烦问下|问一下|问下|客服)+")


# ================================================================ the queue


def record_training_item(
    session: Session,
    message_id: int,
    text: str,
    channel_code: str,
    guess: str | None,
    confidence: float | None,
) -> bool:
    """Queues a customer's message for the trainers; True if queued, False if the message was
    already queued (idempotent per message) or has no text."""
    clean = " ".join(text.split())[:MAX_TEXT]
    if not clean:
        return False
    if repo.item_for_message(session, message_id) is not None:
        return False
    item = TrainingItem(
        message_id=message_id,
        text=clean,
        channel_code=channel_code,
        guess=guess,
        confidence=None if confidence is None else float(confidence),
        status="open",
    )
    return repo.insert_item(session, item)


def _item_out(item: TrainingItem) -> TrainingItemOut:
    return TrainingItemOut(
        id=item.id,
        text=item.text,
        channel_code=item.channel_code,
        guess=item.guess,
        confidence=item.confidence,
        status=item.status,
        subintent_code=item.subintent_code,
        created_at=item.created_at,
    )


# ================================================================ clustering


def prepare(question: str) -> str:
    """What clustering compares: normalised, without punctuation, spaces, a leading greeting or
    trailing particles ("你好，能开发票吗？" → "能开发票")."""
    squeezed = _PUNCT.sub("", text_mod.normalise(question))
    core = _PARTICLES.sub("", _POLITE.sub("", squeezed))
    return core or squeezed


def _grams(prepared: str) -> list[str]:
    grams: list[str] = []
    for n in (1, 2, 3):
        grams.extend(prepared[i : i + n] for i in range(len(prepared) - n + 1))
    return grams


@dataclass(frozen=True, slots=True)
class Group:
    """Positions (into the clustered texts) of one cluster's members and of its representative."""

    members: tuple[int, ...]
    representative: int


def cluster_texts(texts: Sequence[str], threshold: float = DISTANCE_THRESHOLD) -> list[Group]:
    """Groups the texts (see the module doc); every text lands in exactly one group."""
    from sklearn.cluster import AgglomerativeClustering  # type: ignore[import-untyped]
    from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

    n = len(texts)
    if n == 0:
        return []
    prepared = [prepare(t) for t in texts]
    if n == 1 or not any(prepared):
        return [Group((i,), i) for i in range(n)]
    # Term frequencies without IDF: a few dozen questions give no trustworthy document
    # frequencies, and IDF would push apart two rewordings because their shared words are common.
    vectors = TfidfVectorizer(analyzer=_grams, sublinear_tf=True, use_idf=False).fit_transform(prepared)
    similarity = (vectors @ vectors.T).toarray()
    distance = np.clip(1.0 - similarity, 0.0, 1.0)
    np.fill_diagonal(distance, 0.0)
    # An empty text (only punctuation) has a zero vector: it is distance 1 from everything.
    labels = (
        AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average", distance_threshold=threshold)
        .fit(distance)
        .labels_
    )
    by_label: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(int(label), []).append(i)
    groups: list[Group] = []
    for members in by_label.values():
        if len(members) == 1:
            groups.append(Group((members[0],), members[0]))
            continue
        centroid = np.asarray(vectors[members].mean(axis=0)).ravel()
        closeness = vectors[members] @ centroid
        best = members[int(np.argmax(closeness))]
        groups.append(Group(tuple(members), best))
    return groups


_groups_cache: OrderedDict[tuple[str, str], list[Group]] = OrderedDict()
_groups_lock = threading.Lock()
_GROUPS_CACHE_SIZE = 16


def _cached_groups(session: Session, items: Sequence[TrainingItem]) -> list[Group]:
    """The clustering of these items (a question's text never changes, so the same ids give the
    same groups): the console reloading the page does not recluster 2,000 questions. Keyed by the
    ids and texts, as a test database restarts its ids."""
    digest = hashlib.sha1(usedforsecurity=False)
    for i in items:
        digest.update(f"{i.id}\x00{i.text}\x01".encode())
    key = (str(session.get_bind().engine.url), digest.hexdigest())
    with _groups_lock:
        hit = _groups_cache.get(key)
        if hit is not None:
            _groups_cache.move_to_end(key)
            return list(hit)
    groups = cluster_texts([i.text for i in items])
    with _groups_lock:
        _groups_cache[key] = groups
        while len(_groups_cache) > _GROUPS_CACHE_SIZE:
            _groups_cache.popitem(last=False)
    return list(groups)


def _cluster_id(ids: Sequence[int]) -> str:
    digest = hashlib.sha1(",".join(str(i) for i in sorted(ids)).encode(), usedforsecurity=False)
    return "c" + digest.hexdigest()[:12]


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValidationFailed(
            "invalid status", errors=[FieldProblem("status", "invalid_status", f"one of {', '.join(STATUSES)}")]
        )


def clusters(session: Session, principal: Principal, *, status: str = "open", limit: int = 50) -> list[ClusterOut]:
    """The newest questions of a status (open by default) in clusters, largest first (then the most
    recently asked), with the published knowledge base's best guess for each."""
    principal.require(Perm.SERVICE_READ)
    _check_status(status)
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            "invalid limit", errors=[FieldProblem("limit", "out_of_range", f"between 1 and {MAX_LIMIT}")]
        )
    items = repo.newest_items(session, status=status, limit=MAX_ITEMS, channel_code=principal.channel_code)
    if not items:
        return []
    groups = _cached_groups(session, items)
    groups.sort(key=lambda g: (-len(g.members), min(g.members)))  # items are newest first
    groups = groups[:limit]
    guesses = _guesses(session, items, groups)
    out: list[ClusterOut] = []
    for group, guess in zip(groups, guesses, strict=True):
        members = [items[i] for i in group.members]
        rep = items[group.representative]
        out.append(
            ClusterOut(
                id=_cluster_id([m.id for m in members]),
                size=len(members),
                representative=rep.text,
                representative_id=rep.id,
                items=[_item_out(m) for m in sorted(members, key=lambda m: m.id)],
                guess=guess,
                channels=sorted({m.channel_code for m in members}),
                first_seen=min(m.created_at for m in members),
                last_seen=max(m.created_at for m in members),
            )
        )
    return out


def _guesses(session: Session, items: Sequence[TrainingItem], groups: Sequence[Group]) -> list[ClusterGuessOut | None]:
    """The published classifier's majority prediction over (up to GUESS_SAMPLE of) each cluster's
    questions, in one batch; without a published version, the majority of what the bot guessed
    when the questions came in."""
    from zhongtai.service import kb

    published = kb.published(session)
    samples: list[list[int]] = []
    for g in groups:
        ordered = [g.representative, *(m for m in g.members if m != g.representative)]
        samples.append(ordered[:GUESS_SAMPLE])
    if published is not None:
        flat = [items[i].text for sample in samples for i in sample]
        predictions = iter(published.classifier.predict(flat))
        results: list[ClusterGuessOut | None] = []
        for sample in samples:
            preds = [next(predictions) for _ in sample]
            label, count = Counter(p.label for p in preds).most_common(1)[0]
            sub = published.kb.get(label)
            confidence = sum(p.confidence for p in preds if p.label == label) / count
            results.append(
                ClusterGuessOut(
                    subintent_code=label,
                    name=sub.name if sub is not None else label,
                    share=round(count / len(preds), 3),
                    confidence=round(confidence, 3),
                )
            )
        return results
    fallback: list[ClusterGuessOut | None] = []
    for g in groups:
        guessed = [items[i] for i in g.members if items[i].guess]
        if not guessed:
            fallback.append(None)
            continue
        label, count = Counter(str(i.guess) for i in guessed).most_common(1)[0]
        confidences = [i.confidence for i in guessed if i.guess == label and i.confidence is not None]
        fallback.append(
            ClusterGuessOut(
                subintent_code=label,
                name=label,
                share=round(count / len(g.members), 3),
                confidence=round(sum(confidences) / len(confidences), 3) if confidences else 0.0,
            )
        )
    return fallback


# ================================================================ assigning and ignoring


def _check_ids(item_ids: Sequence[int], problems: list[FieldProblem]) -> list[int]:
    ids: list[int] = []
    if not item_ids:
        problems.append(FieldProblem("body.item_ids", "required", "at least one question"))
    elif len(item_ids) > MAX_IDS:
        problems.append(FieldProblem("body.item_ids", "too_many", f"at most {MAX_IDS} questions at once"))
    for k, value in enumerate(item_ids):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            problems.append(FieldProblem(f"body.item_ids.{k}", "invalid_id", "a positive integer"))
        else:
            ids.append(value)
    return sorted(set(ids))


def _check_known(session: Session, ids: Sequence[int], principal: Principal) -> None:
    """Every id names a question this principal may act on: unknown ones are one 422 listing them."""
    found = {i.id for i in repo.items_by_ids(session, ids) if principal.channel_code in (None, i.channel_code)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationFailed(
            "unknown questions",
            errors=[FieldProblem("body.item_ids", "unknown_item", f"no question {', '.join(map(str, missing))}")],
        )


def _as_examples(texts: Sequence[str]) -> list[str]:
    """Questions usable as example questions: within the knowledge base's length limit, without the
    CSV list separator."""
    from zhongtai.service import kb

    out: list[str] = []
    for t in texts:
        clean = " ".join(t.replace(kb.LIST_SEPARATOR, "/").split())
        if clean and len(clean) <= kb.MAX_EXAMPLE_LEN:
            out.append(clean)
    return out


def assign(
    session: Session,
    actor: Principal,
    item_ids: Sequence[int],
    *,
    subintent_code: str | None = None,
    new_subintent: NewSubIntentIn | None = None,
) -> AssignOut:
    """The open questions among ``item_ids`` become example questions of the draft sub-intent
    ``subintent_code``, or of a sub-intent created from ``new_subintent``; they are marked
    assigned. Questions already assigned or ignored (by another trainer meanwhile) are skipped;
    when none is left it is a 409. The bot learns them at the next publish."""
    from zhongtai.service import kb

    actor.require(Perm.SERVICE_WRITE)
    problems: list[FieldProblem] = []
    ids = _check_ids(item_ids, problems)
    if (subintent_code is None) == (new_subintent is None):
        problems.append(FieldProblem("body", "one_of", "give subintent_code or new_subintent, not both or neither"))
    if subintent_code is not None and not problems:
        try:
            kb.subintent_detail(session, subintent_code)
        except NotFound:
            problems.append(
                FieldProblem("body.subintent_code", "unknown_subintent", f"no sub-intent {subintent_code!r}")
            )
    if problems:
        raise ValidationFailed("invalid assignment", errors=problems)
    _check_known(session, ids, actor)
    code = subintent_code if subintent_code is not None else new_subintent.code  # type: ignore[union-attr]
    claimed = repo.claim_open(
        session,
        ids,
        status="assigned",
        subintent_code=code,
        resolved_at=utcnow(),
        resolved_by=actor.name,
        channel_code=actor.channel_code,
    )
    if not claimed:
        raise Conflict("these questions were already assigned or ignored")
    examples = _as_examples([t for _, t in claimed])
    created = new_subintent is not None
    if new_subintent is not None:
        out = kb.create_subintent(
            session,
            actor,
            intent_code=new_subintent.intent_code,
            code=new_subintent.code,
            name=new_subintent.name,
            name_en=new_subintent.name_en,
            examples=examples,
            answer_text=new_subintent.answer_text,
            source="trainer",
        )
        added = len(out.examples)
    else:
        added = kb.add_examples(session, actor, code, examples)
    assigned = [i for i, _ in claimed]
    skipped = [i for i in ids if i not in set(assigned)]
    audit.record(
        session,
        actor,
        "service.trainer.assign",
        "service_subintent",
        code,
        after={"items": assigned, "skipped": skipped, "examples_added": added, "created": created},
    )
    return AssignOut(subintent_code=code, assigned=assigned, skipped=skipped, examples_added=added, created=created)


def ignore(session: Session, actor: Principal, item_ids: Sequence[int]) -> IgnoreOut:
    """Marks the open questions among ``item_ids`` ignored (chatter, spam, out of scope); the others
    are skipped, and when none is open it is a 409."""
    actor.require(Perm.SERVICE_WRITE)
    problems: list[FieldProblem] = []
    ids = _check_ids(item_ids, problems)
    if problems:
        raise ValidationFailed("invalid questions", errors=problems)
    _check_known(session, ids, actor)
    claimed = repo.claim_open(
        session,
        ids,
        status="ignored",
        subintent_code=None,
        resolved_at=utcnow(),
        resolved_by=actor.name,
        channel_code=actor.channel_code,
    )
    if not claimed:
        raise Conflict("these questions were already assigned or ignored")
    ignored = [i for i, _ in claimed]
    skipped = [i for i in ids if i not in set(ignored)]
    audit.record(
        session,
        actor,
        "service.trainer.ignore",
        "service_training_item",
        ignored[0],
        after={"items": ignored, "skipped": skipped},
    )
    return IgnoreOut(ignored=ignored, skipped=skipped)
