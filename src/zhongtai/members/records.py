"""What the batch matcher works on: person records from a file (or the demo), and its result.

``members.batch.stitch`` clusters ``PersonRecord``s with the same deterministic rules as the live
identity graph (``members.identifiers``) and the same probabilistic model as the live matching job
(``members.matching``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zhongtai.members.identifiers import IdentifierIn, WeakKind


@dataclass(slots=True)
class PersonRecord:
    record_id: str
    # Strong identifiers, already normalised (identifiers.parse_identifiers).
    identifiers: list[IdentifierIn] = field(default_factory=list)
    # Weak attributes by kind, raw text (the matcher cleans them).
    attributes: dict[WeakKind, str] = field(default_factory=dict)
    # Where the record comes from (channel code, file name): shown, not matched on.
    source: str = ""


@dataclass(frozen=True, slots=True)
class ScoredPair:
    left: str
    right: str
    probability: float


@dataclass(slots=True)
class StitchResult:
    # record id -> cluster id (the smallest record id of the cluster, so reruns are stable)
    cluster_of: dict[str, str]
    # identifier keys quarantined by the guard rails (identifiers.key)
    quarantined: set[str] = field(default_factory=set)
    # pairs merged by the probabilistic matcher (>= match threshold), between clusters
    merged_pairs: list[ScoredPair] = field(default_factory=list)
    # pairs between the review and the match threshold: the review queue, not merged
    review_pairs: list[ScoredPair] = field(default_factory=list)
    deterministic_clusters: int = 0
