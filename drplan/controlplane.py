"""Live facts from the control plane (Azure Resource Manager) and what a plan makes of them (issue 15).

Standard library only: the reads live in :mod:`drplan.azure.arm`; this module holds what they return
(:class:`AccountFacts`, :class:`Deployment`, :class:`Unread`) and :func:`resolve`, which merges them with the spec.

What the spec says about ``endpoint``, ``region`` and ``encryption`` is an *assertion* when the control plane was
read: a disagreement is a plan error naming both values. When it was not read (no role, no network,
``control_plane = false``, ``--no-control-plane``), the spec's values are used and the plan warns which facts are
unverified. Each fact the plan uses records where it came from (``from``: ``live`` with ``read_at``, ``spec``, or
``default``), so a reviewer sees what was checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Union

from drplan.spec.model import Encryption, Resource, Spec

#: ``properties.encryption.keySource`` of an account encrypted with a customer-managed key (Key Vault); the other
#: value is ``Microsoft.CognitiveServices`` (Microsoft-managed keys), also what an account without an ``encryption``
#: block uses.
KEY_SOURCE_KEY_VAULT = "Microsoft.KeyVault"
KEY_SOURCE_MICROSOFT = "Microsoft.CognitiveServices"


@dataclass(frozen=True)
class Deployment:
    """One model deployment of an account (``Microsoft.CognitiveServices/accounts/deployments``)."""

    name: str
    model: str
    version: str = ""
    format: str = ""
    sku: str = ""
    capacity: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "version": self.version, "format": self.format,
                "sku": self.sku, "capacity": self.capacity}


@dataclass(frozen=True)
class AccountFacts:
    """What Resource Manager says about one account, read at ``read_at`` (UTC, ISO 8601)."""

    resource_id: str
    read_at: str
    endpoint: str
    location: str
    kind: str = ""
    sku: str = ""
    key_source: str = KEY_SOURCE_MICROSOFT
    key_vault_key: bool = False
    public_network_access: str = ""
    #: Child collections the account's family plans with (``Family.control_plane_collections``): CU deployments.
    deployments: tuple[Deployment, ...] | None = None

    @property
    def encryption(self) -> Encryption:
        return (Encryption.CUSTOMER_MANAGED if self.key_source.lower() == KEY_SOURCE_KEY_VAULT.lower()
                else Encryption.MICROSOFT_MANAGED)

    def deployment(self, name: str) -> Deployment | None:
        return next((d for d in self.deployments or () if d.name == name), None)


@dataclass(frozen=True)
class Unread:
    """Why the control plane was not read for a resource. ``error`` (a wrong resource_id, say) makes the plan
    unapplyable; otherwise the plan goes on from the spec, with ``reason`` as a warning."""

    reason: str
    error: str | None = None


Reading = Union[AccountFacts, Unread]


@dataclass
class Resolution:
    """The spec with live facts filled in, and what the plan says about them."""

    spec: Spec
    #: resource name -> the plan's ``resources[name]["facts"]`` and ``["control_plane"]`` blocks
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    control_plane: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def same_endpoint(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def same_region(a: str, b: str) -> bool:
    """ARM ``location`` is ``eastus``; a display name ``East US`` is the same region."""
    return a.replace(" ", "").lower() == b.replace(" ", "").lower()


def resolve(spec: Spec, readings: Mapping[str, Reading], *, collections: Mapping[str, Iterable[str]] = {}) -> Resolution:
    """Merge ``readings`` (one per resource the plan uses; none for a resource whose control plane was not asked)
    into ``spec``. ``collections``: per resource, the child collections its family plans with (named in the
    "unverified" warning when they could not be read)."""
    out = Resolution(spec)
    resources = dict(spec.resources)
    where = str(spec.path)
    for name in sorted(readings):
        res = spec.resources[name]
        reading = readings[name]
        if isinstance(reading, AccountFacts):
            resources[name] = _live(where, res, reading, out)
        else:
            resources[name] = _unread(where, res, reading, tuple(collections.get(name, ())), out)
    out.spec = replace(spec, resources=resources)
    return out


def _live(where: str, res: Resource, facts: AccountFacts, out: Resolution) -> Resource:
    live = {"from": "live", "read_at": facts.read_at}
    name = res.name
    checks = (("endpoint", res.endpoint, facts.endpoint.rstrip("/"), same_endpoint),
              ("region", res.region, facts.location, same_region))
    for key, said, seen, same in checks:
        if said and seen and not same(said, seen):
            out.errors.append(f"{where}: resources.{name}.{key}: the spec says {said!r} but Resource Manager says "
                              f"{facts.resource_id} has {seen!r} (read {facts.read_at}); correct the spec, or remove "
                              f"{key} to use the live value")
    if res.encryption_spec is not None and res.encryption_spec is not facts.encryption:
        out.errors.append(
            f"{where}: resources.{name}.encryption: the spec says {res.encryption_spec.value} but the account uses "
            f"{_describe(facts)} (keySource {facts.key_source}, read {facts.read_at}); correct the spec, or remove "
            "encryption to use the live value")
    endpoint = facts.endpoint.rstrip("/") or res.endpoint
    region = facts.location.replace(" ", "").lower() or res.region
    block: dict[str, Any] = {
        "endpoint": {"value": endpoint, **(live if facts.endpoint else {"from": "spec"})},
        "region": {"value": region, **(live if facts.location else {"from": "spec"})},
        "encryption": {"value": facts.encryption.value, **live, "key_source": facts.key_source,
                       "key_vault_key": facts.key_vault_key},
        "kind": {"value": facts.kind, **live},
        "sku": {"value": facts.sku, **live},
        "public_network_access": {"value": facts.public_network_access or "Enabled", **live},
    }
    if facts.deployments is not None:
        block["deployments"] = {"value": [d.to_dict() for d in facts.deployments], **live}
    if facts.encryption is Encryption.CUSTOMER_MANAGED and not facts.key_vault_key:
        out.warnings.append(f"{name}: keySource is {facts.key_source} but no key vault key is set on "
                            f"{facts.resource_id}; the account may not be usable until the key is configured")
    out.facts[name] = block
    out.control_plane[name] = {"read": True, "read_at": facts.read_at}
    return replace(res, endpoint=endpoint, region=region, encryption=facts.encryption)


def _unread(where: str, res: Resource, why: Unread, collections: tuple[str, ...], out: Resolution) -> Resource:
    name = res.name
    if why.error:
        out.errors.append(why.error)
    for key in ("endpoint", "region"):
        if not getattr(res, key):
            out.errors.append(f"{where}: resources.{name}.{key} is not in the spec and could not be read from the "
                              f"control plane ({why.reason}); set {key} in the spec")
    enc_from = "spec" if res.encryption_spec is not None else "default"
    out.facts[name] = {
        "endpoint": {"value": res.endpoint, "from": "spec"},
        "region": {"value": res.region, "from": "spec"},
        "encryption": {"value": res.encryption.value, "from": enc_from},
    }
    out.control_plane[name] = {"read": False, "reason": why.reason}
    unverified = ["endpoint", "region",
                  "encryption" + ("" if enc_from == "spec" else f" (assumed {res.encryption.value})"),
                  *collections]
    out.warnings.append(f"{name}: not verified against the control plane ({why.reason}); "
                        f"{', '.join(unverified)} taken from the spec")
    return res


def _describe(facts: AccountFacts) -> str:
    return ("a customer-managed key" if facts.encryption is Encryption.CUSTOMER_MANAGED
            else "Microsoft-managed keys")
