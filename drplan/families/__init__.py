"""The service families drplan copies, behind one Protocol (``drplan.families.base.Family``).

The registry is an explicit dict, one line per family (no import magic, no entry points): adding a family is one
package under ``drplan/families/``, one line here, one emulator service module, its schema fragment and its tests.
The core asks these functions which family a resource, a rule or a change belongs to; it never branches on one.
"""

from __future__ import annotations

from typing import Any

from drplan.azure.client import AzureClient
from drplan.families.base import Connection, Family
from drplan.families.content_understanding import FAMILY as CONTENT_UNDERSTANDING
from drplan.families.document_intelligence import FAMILY as DOCUMENT_INTELLIGENCE
from drplan.families.form_recognizer_v2 import FAMILY as FORM_RECOGNIZER_V2
from drplan.families.language import FAMILY as LANGUAGE
from drplan.spec.model import AssetKind, Resource, copy_protocol

#: copy protocol (drplan.spec.model.copy_protocol) -> family
FAMILIES: dict[str, Family] = {
    "di": DOCUMENT_INTELLIGENCE,
    "fr-v2": FORM_RECOGNIZER_V2,
    "cu": CONTENT_UNDERSTANDING,
    "language": LANGUAGE,
}
_BY_KIND: dict[str, Family] = {kind.value: f for f in FAMILIES.values() for kind in f.kinds}


def family_of(resource: Resource | Connection) -> Family:
    """The family of a spec resource or a connection."""
    return FAMILIES[copy_protocol(resource.family, resource.api_version)]


def family_of_kind(kind: AssetKind | str) -> Family:
    """The family that owns an asset kind (a change's or a state record's ``kind``)."""
    return _BY_KIND[AssetKind(kind).value]


def adapter_for(client: AzureClient, conn: Connection) -> Any:
    """The adapter of a resource's family, connected to it."""
    return family_of(conn).adapter(client, conn)


__all__ = ["FAMILIES", "adapter_for", "family_of", "family_of_kind"]
