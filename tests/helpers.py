"""Small builders shared by unit tests (importable because pytest puts tests/ on sys.path)."""

from __future__ import annotations

from pathlib import Path

from drplan.families.base import Asset, Inventory
from drplan.families.document_intelligence.adapter import fingerprint
from drplan.spec.model import AssetKind, Encryption, Family, Resource, Rule, Spec, StateConfig

SUB = "00000000-0000-0000-0000-000000000000"


def arm_id(account: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/{account}"


def resource(name: str, *, encryption: Encryption = Encryption.MICROSOFT_MANAGED, region: str = "eastus") -> Resource:
    return Resource(name=name, family=Family.DOCUMENT_INTELLIGENCE, endpoint=f"https://{name}.example",
                    region=region, resource_id=arm_id(name), api_version="2024-11-30",
                    key_env=f"KEY_{name.upper()}", encryption=encryption)


def make_spec(*rules: Rule, resources: list[Resource] | None = None, tmp: Path = Path("/tmp")) -> Spec:
    res = resources or [resource("src"), resource("west", region="westus"), resource("north", region="northeurope")]
    return Spec(path=tmp / "dr.toml", digest="sha256:" + "0" * 64,
                state=StateConfig(backend="local", path=tmp / "drplan.state.json"),
                resources={r.name: r for r in res}, rules=tuple(rules))


def rule(name: str = "r", *, targets=("west",), models=("*",), classifiers=(), **kw) -> Rule:
    return Rule(name=name, source=kw.pop("source", "src"), targets=tuple(targets), models=tuple(models),
                classifiers=tuple(classifiers), **kw)


def model(asset_id: str, created: str = "2024-01-01T00:00:00Z", kind: AssetKind = AssetKind.DOCUMENT_MODEL) -> Asset:
    return Asset(kind=kind, id=asset_id, created=created, fingerprint=fingerprint(created))


def inventory(name: str, *assets: Asset, count: int | None = None, limit: int | None = None) -> Inventory:
    inv = Inventory(resource=name, model_count=count, model_limit=limit)
    for a in assets:
        inv.assets[(a.kind, a.id)] = a
    return inv
