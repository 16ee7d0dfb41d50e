"""Document Intelligence v4 / Form Recognizer v3 ``drplan adopt``: the evidence that an existing target asset is a
copy of the planned source version, strongest first: its lineage tags; the documented heuristic (the same
expirationDateTime and docTypes digest, which a copy keeps: for classifiers, which show no tags, and for copies made
by hand or by an older drplan); the caller's word (``--assert-copy``). Never createdDateTime (issue 13)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drplan.azure.client import AzureClient
from drplan.errors import StateError
from drplan.families.base import Connection
from drplan.families.document_intelligence.adapter import DocumentModelsAdapter
from drplan.lineage import Lineage
from drplan.plan.model import Change
from drplan.spec.model import Spec
from drplan.state.model import State


async def adopt_evidence(client: AzureClient, conns: Mapping[str, Connection], spec: Spec, change: Change,
                         state: State, *, assert_copy: bool) -> tuple[str | bool, dict[str, Any]]:
    """Why a DI / FR v3 target asset may be recorded as a copy of the planned source version (see ``adopt``), and
    what the record adds; raises StateError naming what was compared when nothing matches."""
    src, tgt = change.source, change.target
    address, where = change.address, f"{tgt.resource}/{tgt.id}"
    kind = change.kind
    source = await DocumentModelsAdapter(client, conns[src.resource]).get(kind, src.id)
    target = await DocumentModelsAdapter(client, conns[tgt.resource]).get(kind, tgt.id)
    state_lineage = state.lineage
    if source is None or target is None:
        raise StateError(f"{address}: {src.resource}/{src.id if source is None else tgt.id} disappeared "
                         "while adopting; run drplan plan again")
    ref = spec.resources[src.resource].resource_id or spec.resources[src.resource].endpoint
    want = Lineage(state_lineage, ref, source.id, source.fingerprint)
    if target.lineage is not None:
        if not target.lineage.same_version(want):
            raise StateError(f"{address}: {where} is not a copy of {src.resource}/{src.id} as it is now "
                             f"(version {source.fingerprint}): its lineage tags say it is a "
                             f"{target.lineage.describe()}; refusing to adopt it")
        extra = {"lineage_tags": True, "target_fingerprint": target.fingerprint}
        if target.lineage.state != state_lineage:
            extra["adopted_from_state"] = target.lineage.state
        return "lineage-tags", extra
    if target.expires and target.expires == source.expires and target.content_digest \
            and target.content_digest == source.content_digest:
        return "heuristic", {"lineage_tags": False, "target_fingerprint": target.fingerprint}
    if assert_copy:
        return "asserted", {"lineage_tags": False, "target_fingerprint": target.fingerprint}
    compared = (f"expirationDateTime {target.expires or '(none)'} vs {source.expires or '(none)'}, docTypes digest "
                f"{target.content_digest or '(none)'} vs {source.content_digest or '(none)'}")
    raise StateError(
        f"{address}: {where} carries no drplan lineage tags, and the heuristic does not match ({compared}); refusing "
        f"to adopt it. If you know it is a copy of {src.resource}/{src.id}, run drplan adopt again with "
        "--assert-copy; otherwise delete it on the target and let drplan copy it")
