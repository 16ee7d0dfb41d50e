"""The DR spec as frozen dataclasses. Standard library only; built by drplan.spec.load."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path


class Family(str, enum.Enum):
    DOCUMENT_INTELLIGENCE = "document-intelligence"
    FORM_RECOGNIZER = "form-recognizer"


class Encryption(str, enum.Enum):
    MICROSOFT_MANAGED = "microsoft-managed"
    CUSTOMER_MANAGED = "customer-managed"


class AssetKind(str, enum.Enum):
    DOCUMENT_MODEL = "document-model"
    DOCUMENT_CLASSIFIER = "document-classifier"


#: api-versions each family speaks (contracts §2, §3), and which of them can copy classifiers (§2.4, §2.7).
API_VERSIONS: dict[Family, tuple[str, ...]] = {
    Family.DOCUMENT_INTELLIGENCE: ("2024-11-30", "2024-02-29-preview"),
    Family.FORM_RECOGNIZER: ("2023-07-31", "2022-08-31"),
}
CLASSIFIER_COPY_VERSIONS = frozenset({"2024-11-30"})


@dataclass(frozen=True)
class Resource:
    name: str
    family: Family
    endpoint: str
    region: str
    resource_id: str
    api_version: str
    key_env: str
    encryption: Encryption = Encryption.MICROSOFT_MANAGED

    def public(self) -> dict[str, str]:
        """What a plan records about the resource: everything but secrets (the key is only named by its env var)."""
        return {
            "family": self.family.value,
            "endpoint": self.endpoint,
            "region": self.region,
            "resource_id": self.resource_id,
            "api_version": self.api_version,
            "key_env": self.key_env,
            "encryption": self.encryption.value,
        }


@dataclass(frozen=True)
class Rule:
    name: str
    source: str
    targets: tuple[str, ...]
    models: tuple[str, ...] = ()
    classifiers: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    rename: dict[str, str] = field(default_factory=dict)
    allow_encryption_downgrade: bool = False
    prune: bool = False


@dataclass(frozen=True)
class StateConfig:
    backend: str
    path: Path  # absolute


@dataclass(frozen=True)
class Spec:
    path: Path
    digest: str
    state: StateConfig
    resources: dict[str, Resource]
    rules: tuple[Rule, ...]
    parallelism: int = 10
    per_endpoint_parallelism: int = 8
