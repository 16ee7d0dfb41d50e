"""Lineage: where a copy came from, the one way every family answers "is this copy ours, and of which version?".

A copy is identified by its lineage, never by comparing its timestamps with its source's: since 2024 the live
Document Intelligence service gives a copy a new ``createdDateTime`` (older recordings kept the source's; issue 13,
contracts §2.4). The lineage is four facts:

* ``state``: the lineage id of the drplan state that made the copy (``State.lineage``, a UUID);
* ``source_resource``: the source's ARM resource id (its endpoint when the spec gives none);
* ``source_id``: the source asset's id;
* ``source_version``: the source's fingerprint at copy time (DESIGN §1).

It is recorded in the state for every family, and, where the service keeps tags on copies (Document Intelligence v4
and Form Recognizer v3 models and classifiers: the ``tags`` of ``authorizeCopy`` appear on the copy in every
recording), stamped on the copy as four tags, so a lost state or ``drplan adopt`` can still tell drplan's copies from
others.

Tag limits: the service documents none, so drplan keeps to Azure's resource-tag limits (keys up to 128 characters,
values up to 256): a longer resource id is stamped as ``sha256:<first 32 hex digits>`` and compared the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TAG_STATE = "drplan-lineage"
TAG_SOURCE = "drplan-source"
TAG_SOURCE_ID = "drplan-source-id"
TAG_SOURCE_VERSION = "drplan-source-version"
TAGS = (TAG_STATE, TAG_SOURCE, TAG_SOURCE_ID, TAG_SOURCE_VERSION)
MAX_TAG_VALUE = 256


def tag_value(text: str) -> str:
    """``text`` as it is stamped in a tag: itself, or a digest when it is too long for a tag value."""
    if len(text) <= MAX_TAG_VALUE:
        return text
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Lineage:
    state: str
    source_resource: str
    source_id: str
    source_version: str

    def tags(self) -> dict[str, str]:
        return {TAG_STATE: tag_value(self.state), TAG_SOURCE: tag_value(self.source_resource),
                TAG_SOURCE_ID: tag_value(self.source_id), TAG_SOURCE_VERSION: tag_value(self.source_version)}

    def to_dict(self) -> dict[str, str]:
        return {"state": self.state, "source_resource": self.source_resource, "source_id": self.source_id,
                "source_version": self.source_version}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lineage:
        return cls(str(data.get("state", "")), str(data.get("source_resource", "")), str(data.get("source_id", "")),
                   str(data.get("source_version", "")))

    def same_source(self, other: Lineage) -> bool:
        """Copied from the same source asset (any version)."""
        return (tag_value(self.source_resource).lower() == tag_value(other.source_resource).lower()
                and tag_value(self.source_id) == tag_value(other.source_id))

    def same_version(self, other: Lineage) -> bool:
        return self.same_source(other) and same_fingerprint(self.source_version, other.source_version)

    def describe(self) -> str:
        return (f"copy of {self.source_id} (version {self.source_version}) from {self.source_resource}, made by "
                f"drplan state {self.state}")


def read_lineage_tags(tags: Mapping[str, str]) -> Lineage | None:
    """The lineage stamped on a copy, or None when the copy carries none (or only part of it: not drplan's)."""
    if not all(tags.get(t) for t in TAGS):
        return None
    return Lineage(tags[TAG_STATE], tags[TAG_SOURCE], tags[TAG_SOURCE_ID], tags[TAG_SOURCE_VERSION])


def without_lineage_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """A source's own tags minus any lineage it carries itself (a copy of a copy names its own source)."""
    return {k: v for k, v in tags.items() if k not in TAGS}


def same_fingerprint(recorded: str, now: str) -> bool:
    """Whether two fingerprints of one asset name the same version.

    Fingerprints are ``key=value`` pairs joined by ``;``. One written by an older drplan may lack a key a newer one
    has (Document Intelligence ``modified=`` came with issue 13): the keys both have must agree, and they must share
    at least one."""
    if recorded == now:
        return True
    a, b = _pairs(recorded), _pairs(now)
    shared = a.keys() & b.keys()
    return bool(shared) and all(a[k] == b[k] for k in shared)


def _pairs(fingerprint: str) -> dict[str, str]:
    out = {}
    for part in fingerprint.split(";"):
        key, eq, value = part.partition("=")
        if eq:
            out[key] = value
    return out


__all__ = ["TAGS", "Lineage", "read_lineage_tags", "same_fingerprint", "tag_value", "without_lineage_tags"]
