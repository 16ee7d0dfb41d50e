"""Service families -> adapter classes. An explicit dict: adding a family is one line here plus its module."""

from __future__ import annotations

from drplan.azure.client import AzureClient
from drplan.services.base import Connection
from drplan.services.contentunderstanding import AnalyzersAdapter
from drplan.services.documentintelligence import DocumentModelsAdapter
from drplan.services.formrecognizer_v2 import FormRecognizerV2Adapter
from drplan.services.language import ProjectsAdapter
from drplan.spec.model import copy_protocol

#: copy protocol (drplan.spec.model.copy_protocol) -> adapter class
ADAPTERS: dict[str, type] = {
    "di": DocumentModelsAdapter,
    "fr-v2": FormRecognizerV2Adapter,
    "cu": AnalyzersAdapter,
    "language": ProjectsAdapter,
}


def adapter_for(client: AzureClient, conn: Connection):  # type: ignore[no-untyped-def]
    return ADAPTERS[copy_protocol(conn.family, conn.api_version)](client, conn)
