"""Service families -> adapter classes. An explicit dict: adding a family is one line here plus its module."""

from __future__ import annotations

from drplan.azure.client import AzureClient
from drplan.services.base import Connection
from drplan.services.documentintelligence import DocumentModelsAdapter

ADAPTERS = {
    "document-intelligence": DocumentModelsAdapter,
    "form-recognizer": DocumentModelsAdapter,
}


def adapter_for(client: AzureClient, conn: Connection) -> DocumentModelsAdapter:
    return ADAPTERS[conn.family](client, conn)
