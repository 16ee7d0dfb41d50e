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


#: The spec's family vocabulary: family -> api-version -> copy protocol id (contracts §2-§6). Resources copy to each
#: other only within one protocol; the registry (drplan.families) maps each id to the family that implements it.
#: Kept here, as data, because the spec model is standard-library only. CU 2025-05-01-preview has no copy operation
#: at all (contracts §5.5), so it cannot take part in DR.
PROTOCOLS: dict[str, dict[str, str]] = {
    "document-intelligence": {"2024-11-30": "di", "2024-02-29-preview": "di"},
    # v3 shares DI v4's model store and copy protocol (contracts §3); v2.x is path-versioned with its own (§4).
    "form-recognizer": {"2023-07-31": "di", "2022-08-31": "di", "2.1": "fr-v2", "2.0": "fr-v2", "2.0-preview": "fr-v2"},
    "content-understanding": {"2025-11-01": "cu"},
    "language": {"2023-04-01": "language", "2022-05-01": "language"},
}
#: api-versions each family speaks.
API_VERSIONS: dict[Family, tuple[str, ...]] = {Family(f): tuple(v) for f, v in PROTOCOLS.items()}


def copy_protocol(family: Family | str, api_version: str) -> str:
    """The copy protocol id a resource speaks (``PROTOCOLS``). An api-version the family does not speak (a spec error
    the loader reports) is taken as the family's first, so the remaining checks can still run."""
    versions = PROTOCOLS[Family(family).value]
    return versions.get(api_version) or next(iter(versions.values()))


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
    #: Content Understanding only: "grant" (GA, the default) or "token" (contracts §5.4); None for other families.
    copy_flow: str | None = None
    auth: str = "key"  # "key": the API key in key_env; "entra": an Entra ID token (DefaultAzureCredential)
    #: What the spec itself says about encryption (None: not said). ``encryption`` is the value the plan uses: the
    #: live one when the control plane was read (drplan.controlplane.resolve), else this, else Microsoft-managed.
    encryption_spec: Encryption | None = None
    #: False: never read this account from Resource Manager (the plan warns which facts are unverified).
    control_plane: bool = True

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
            **({"copy_flow": self.copy_flow} if self.copy_flow is not None else {}),
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
    #: Lifecycle warnings: days before a source's or copy's expiry to warn (None: the spec's [lifecycle] value).
    expiry_warning_days: int | None = None


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
class ControlPlaneConfig:
    """``[control_plane]``: where Resource Manager is and how drplan authenticates to it (issue 15).

    ``management_url`` None: derived per resource from its endpoint's cloud (``drplan.azure.arm.management_url_for``).
    ``token_env`` names an env var holding a bearer token for the management scope (e.g. from ``az account
    get-access-token``); None: azure-identity's DefaultAzureCredential, the chain ``auth = "entra"`` uses."""

    enabled: bool = True
    management_url: str | None = None
    token_env: str | None = None


@dataclass(frozen=True)
class Move:
    """One ``[[moved]]`` block (Terraform's): the state records under ``from_`` now belong to ``to``, so a renamed rule
    or target resource keeps its copies instead of copying them again. Both sides are at one level: a rule
    (``old-rule``), a rule and target resource (``old-rule/old-target``), or an address
    (``rule/target/kind/id``, where only the rule and target parts may differ). ``index``: its place in the spec
    (``moved[i]``), for messages."""

    from_: str
    to: str
    index: int

    @property
    def parts(self) -> int:
        """How many leading address parts (rule, target) the block rewrites: 1 (a rule), 2, or 4 (an address)."""
        return min(len(self.from_.split("/")), 4)

    def destination(self, address: str) -> str | None:
        """Where the block moves the record at ``address`` (None: the block does not name it)."""
        parts = address.split("/")
        if self.parts == 4:
            return self.to if address == self.from_ else None
        if "/".join(parts[:self.parts]) != self.from_:
            return None
        return "/".join(self.to.split("/") + parts[self.parts:])


@dataclass(frozen=True)
class Spec:
    path: Path
    digest: str
    state: StateConfig
    resources: dict[str, Resource]
    rules: tuple[Rule, ...]
    parallelism: int = 10
    per_endpoint_parallelism: int = 8
    #: ``[lifecycle] expiry_warning_days``: plan and check warn when an asset expires within this many days.
    expiry_warning_days: int = 30
    control_plane: ControlPlaneConfig = field(default_factory=ControlPlaneConfig)
    #: ``[[moved]]`` blocks, in spec order (the planner and apply follow them; drplan.plan.moves).
    moves: tuple[Move, ...] = ()
