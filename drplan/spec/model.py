"""The DR spec as frozen dataclasses. Standard library only; built by drplan.spec.load."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Family(str, enum.Enum):
    DOCUMENT_INTELLIGENCE = "document-intelligence"
    FORM_RECOGNIZER = "form-recognizer"
    CONTENT_UNDERSTANDING = "content-understanding"
    LANGUAGE = "language"


class Encryption(str, enum.Enum):
    MICROSOFT_MANAGED = "microsoft-managed"
    CUSTOMER_MANAGED = "customer-managed"


class AssetKind(str, enum.Enum):
    DOCUMENT_MODEL = "document-model"
    DOCUMENT_CLASSIFIER = "document-classifier"
    CUSTOM_MODEL = "custom-model"  # Form Recognizer v2.x: the target id is chosen by the service (contracts §4)
    ANALYZER = "analyzer"  # Content Understanding (contracts §5)
    MODEL_DEPLOYMENT = "model-deployment"  # one key of a CU target's /defaults (model name -> deployment), set by drplan
    LANGUAGE_PROJECT = "language-project"  # Language analyze-text authoring project (contracts §6)


#: api-versions each family speaks (contracts §2, §3), and which of them can copy classifiers (§2.4, §2.7).
API_VERSIONS: dict[Family, tuple[str, ...]] = {
    Family.DOCUMENT_INTELLIGENCE: ("2024-11-30", "2024-02-29-preview"),
    Family.FORM_RECOGNIZER: ("2023-07-31", "2022-08-31", "2.1", "2.0", "2.0-preview"),
    # 2025-05-01-preview has no copy operation at all (contracts §5.5), so it cannot take part in DR.
    Family.CONTENT_UNDERSTANDING: ("2025-11-01",),
    Family.LANGUAGE: ("2023-04-01", "2022-05-01"),
}
CLASSIFIER_COPY_VERSIONS = frozenset({"2024-11-30"})
#: Path-versioned Form Recognizer v2.x (contracts §4): its own model store and copy protocol.
V2_VERSIONS = frozenset({"2.1", "2.0", "2.0-preview"})


#: Content Understanding copy flows (contracts §5.3 GA grant, §5.4 preview-era token).
CU_FLOWS = ("grant", "token")
#: The model roles an analyzer's ``models`` map names (contracts §5.2), and the override keys of the token flow's copy
#: body (§5.4) they map to.
CU_ROLES = ("completion", "embedding")


def copy_protocol(family: Family | str, api_version: str) -> str:
    """Resources can copy to each other only when they speak the same copy protocol."""
    fam = Family(family)
    if fam is Family.FORM_RECOGNIZER and api_version in V2_VERSIONS:
        return "fr-v2"
    if fam is Family.CONTENT_UNDERSTANDING:
        return "cu"
    if fam is Family.LANGUAGE:
        return "language"
    return "di"  # DI v4 and FR v3 are one service with one authorizeCopy/copyTo protocol (contracts §3)


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
    copy_flow: str = "grant"  # Content Understanding only: "grant" (GA, default) or "token" (contracts §5.4)
    auth: str = "key"  # "key": the API key in key_env; "entra": an Entra ID token (DefaultAzureCredential)

    @property
    def protocol(self) -> str:
        return copy_protocol(self.family, self.api_version)

    def public(self) -> dict[str, str]:
        """What a plan records about the resource: everything but secrets (the key is only named by its env var)."""
        return {
            "family": self.family.value,
            "endpoint": self.endpoint,
            "region": self.region,
            "resource_id": self.resource_id,
            "api_version": self.api_version,
            **({"key_env": self.key_env} if self.auth == "key" else {"auth": self.auth}),
            "encryption": self.encryption.value,
            **({"copy_flow": self.copy_flow} if self.family is Family.CONTENT_UNDERSTANDING else {}),
        }


@dataclass(frozen=True)
class LanguageTraining:
    """A Language rule's ``[replicate.train]``: train the imported project on the target, and deploy the model."""

    model_label: str
    training_config_version: str
    deployment: str | None = None  # None: train only


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
    analyzers: tuple[str, ...] = ()  # Content Understanding analyzer ids or globs
    #: CU: per target resource, the deployment each model role uses there (role -> deployment name).
    deployments: dict[str, dict[str, str]] = field(default_factory=dict)
    #: CU token flow: env var *names* of the key that double-encrypts the copy token, and of the key the target
    #: decrypts it with (the same variable unless given).
    encryption_key_env: str | None = None
    decryption_key_env: str | None = None
    projects: tuple[str, ...] = ()  # Language project names or globs
    train: LanguageTraining | None = None


@dataclass(frozen=True)
class StateConfig:
    """Where the state lives. ``local``: ``path`` (absolute). ``azureblob``: ``account_url``/``container``/``blob``,
    credentials by env var *name* (connection string, or account key; neither: Entra ID), lock lease length."""

    backend: str = "local"
    path: Path | None = None
    account_url: str | None = None
    container: str | None = None
    blob: str | None = None
    connection_string_env: str | None = None
    account_key_env: str | None = None
    lease_seconds: int = 60

    def public(self) -> dict[str, Any]:
        """What a plan records about the state, and all a backend is built from: no secret, only env var names."""
        if self.backend == "local":
            return {"backend": "local", "path": str(self.path)}
        out: dict[str, Any] = {"backend": self.backend, "account_url": self.account_url, "container": self.container,
                               "blob": self.blob, "lease_seconds": self.lease_seconds}
        if self.connection_string_env:
            out["connection_string_env"] = self.connection_string_env
        if self.account_key_env:
            out["account_key_env"] = self.account_key_env
        return out


@dataclass(frozen=True)
class Spec:
    path: Path
    digest: str
    state: StateConfig
    resources: dict[str, Resource]
    rules: tuple[Rule, ...]
    parallelism: int = 10
    per_endpoint_parallelism: int = 8
