"""Plan vocabulary and the typed plan. The JSON spelling of every enum is fixed here, once.

``PLAN_FORMAT_VERSION`` is bumped whenever an older drplan could misread a newer plan (apply refuses plans whose
format_version it does not know).

The plan in memory (issue 14) is typed; JSON exists only at the file boundary (``drplan.plan.planfile``):

* :class:`Plan` is the whole document: ``format_version``, ``drplan_version``, ``created_at``, ``spec``
  (:class:`SpecRef`), ``state`` (:class:`PlanState`), ``options`` (:class:`PlanOptions`), ``resources``,
  ``changes`` (``list[Change]``), ``summary``, ``warnings``, ``errors``, ``applyable`` and ``digest`` (None until
  ``planfile.seal``). ``Plan.from_dict`` / ``Plan.to_dict`` convert to and from the JSON document; ``load_plan``
  returns a Plan after the format, digest and schema checks on the raw JSON, ``seal`` and ``save_plan`` take one.
* :class:`Change` is one planned change: ``kind`` is an ``AssetKind`` (the plan's kind spelling is AssetKind's),
  ``action`` an :class:`Action`, ``create_before_destroy`` the FR v2.x replace order (the JSON ``actions`` list is
  derived from both), ``source`` a :class:`Source`, ``target`` a :class:`Target`, ``flags`` a :class:`Flags`.

What is typed and what stays a dict (judgement):

* Typed where every family has the same shape: a change's address, rule, kind, action, reason, warnings, errors,
  depends_on, steps and diff; the source's resource, id, fingerprint, created, description and tags; the target's
  resource, id, exists and fingerprint; the flags (the two every change has, plus the two optional ones, where
  ``None`` means "not in the plan" so a plan reads back byte-identical); the plan header.
* A dict where the content really is family-specific or heterogeneous, so a type would only restate one family's
  JSON: ``Source.extra`` / ``Target.extra`` (DI: ``expires``, ``content_digest``; Language: ``content_digest``,
  the target's ``modified``); ``preconditions`` (each ``type`` has its own fields, checked by the executor);
  ``deployments`` (Content Understanding), ``settings`` (CU /defaults values and key env names, Language training,
  a found copy's ``refresh_record``); ``resources`` (the spec's public description of each resource, which
  ``drplan.refresh.connections`` reads for plans and specs alike); ``summary`` (a count per action spelling);
  ``PlanState.location`` (where the state lives: the backend's own keys, fed to ``backend_from_config``).

``from_dict`` expects a document that passed ``schemas/plan.schema.json`` (``load_plan`` checks it first) and never
mutates it; ``to_dict`` builds fresh containers for the plan's own structure and shares the leaf values (strings,
the family dicts), so the conversion stays a plain attribute copy on plans of 60,000 changes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from drplan.spec.model import AssetKind

#: 1.1: Content Understanding and Language changes (kinds analyzer, model-deployment, language-project; the
#: "update" action; depends_on, steps, deployments, settings, diff). A 1.0 plan is a valid 1.1 plan.
#: 1.2: live facts from Resource Manager (issue 15): ``resources.*.facts`` (each fact's value and provenance) and
#: ``resources.*.control_plane``; a CU deployment's ``exists``, ``checked`` and ``target_version``. The endpoint, region
#: and encryption a 1.2 plan records may come from the control plane rather than the spec. A 1.1 plan is a valid 1.2
#: plan.
PLAN_FORMAT_VERSION = "1.2"


class Action(str, enum.Enum):
    CREATE = "create"
    REPLACE = "replace"
    DELETE = "delete"
    UPDATE = "update"  # in place: a CU target's /defaults key, or retrain/redeploy a Language project
    NO_OP = "no-op"

    @property
    def actions(self) -> list[str]:
        """Terraform's ``actions`` list: a replace is delete-then-create (models are immutable, contracts §2.4)."""
        return list(_ACTIONS[self.value])  # keyed by the plain string: str-Enum hashing is slow on hot paths

    @classmethod
    def from_actions(cls, actions: list[str]) -> Action:
        try:
            return _BY_ACTIONS[tuple(actions)]
        except KeyError:
            raise ValueError(f"unknown actions {actions!r}") from None


#: A replace that copies first and deletes the old copy afterwards: used where the new copy gets a new id (FR v2.x),
#: so there is never a moment without a DR copy.
CREATE_BEFORE_DESTROY = ["create", "delete"]

_ACTIONS: dict[str, tuple[str, ...]] = {
    "create": ("create",),
    "replace": ("delete", "create"),
    "delete": ("delete",),
    "update": ("update",),
    "no-op": ("no-op",),
}
_BY_ACTIONS: dict[tuple[str, ...], Action] = {v: Action(k) for k, v in _ACTIONS.items()}
_BY_ACTIONS[tuple(CREATE_BEFORE_DESTROY)] = Action.REPLACE
#: Plain-string lookups for the hot paths (enum construction by value is slow).
_KIND_BY_VALUE: dict[str, AssetKind] = {k.value: k for k in AssetKind}
_ACTION_LIST: dict[Action, list[str]] = {a: list(_ACTIONS[a.value]) for a in Action}


@dataclass(slots=True)
class Source:
    """Where a change copies from: the source resource (its name in the spec), the asset id, and the version
    (``fingerprint``) the plan was made from. ``extra``: family-specific keys (see the module docstring)."""

    resource: str
    id: str
    fingerprint: str
    created: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {"resource": self.resource, "id": self.id, "fingerprint": self.fingerprint, "created": self.created,
             "description": self.description, "tags": self.tags}
        if self.extra:
            d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Source:
        extra = {k: v for k, v in d.items() if k not in _SOURCE_KEYS} if len(d) > len(_SOURCE_KEYS) else {}
        return cls(d["resource"], d["id"], d["fingerprint"], d["created"], d["description"], d["tags"], extra)


_SOURCE_KEYS = frozenset({"resource", "id", "fingerprint", "created", "description", "tags"})


@dataclass(slots=True)
class Target:
    """Where a change's copy lives: the target resource, the target id, whether it exists and its fingerprint as
    the plan saw it (None when absent). ``extra``: family-specific keys (see the module docstring)."""

    resource: str
    id: str
    exists: bool
    fingerprint: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {"resource": self.resource, "id": self.id, "exists": self.exists, "fingerprint": self.fingerprint}
        if self.extra:
            d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Target:
        extra = {k: v for k, v in d.items() if k not in _TARGET_KEYS} if len(d) > len(_TARGET_KEYS) else {}
        return cls(d["resource"], d["id"], d["exists"], d["fingerprint"], extra)


_TARGET_KEYS = frozenset({"resource", "id", "exists", "fingerprint"})


@dataclass(slots=True)
class Flags:
    """What reviewers must notice. ``deployment_overrides`` (CU) and ``destructive`` (Language import over a
    same-named project) are None where a family does not set them (absent in the JSON, so plans read back
    byte-identical)."""

    encryption_downgrade: bool = False
    drift: bool = False
    deployment_overrides: bool | None = None
    destructive: bool | None = None

    def to_dict(self) -> dict[str, bool]:
        d = {"encryption_downgrade": self.encryption_downgrade, "drift": self.drift}
        if self.deployment_overrides is not None:
            d["deployment_overrides"] = self.deployment_overrides
        if self.destructive is not None:
            d["destructive"] = self.destructive
        return d

    @classmethod
    def from_dict(cls, d: dict[str, bool]) -> Flags:
        return cls(d["encryption_downgrade"], d["drift"], d.get("deployment_overrides"), d.get("destructive"))


@dataclass(slots=True)
class Change:
    """One planned change to one address. ``reason`` and ``warnings`` are for reviewers; the executor never branches
    on them."""

    address: str
    rule: str
    kind: AssetKind
    action: Action
    reason: str
    source: Source
    target: Target
    flags: Flags = field(default_factory=Flags)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Live checks apply makes before it starts (``type`` source_fingerprint, target_absent, target_fingerprint,
    #: target_defaults, source_content; each with its own fields).
    preconditions: list[dict[str, Any]] = field(default_factory=list)
    create_before_destroy: bool = False
    #: Addresses that must be applied before this one (a CU analyzer after the /defaults keys and the analyzers it
    #: references). Only the executor's ordering depends on it.
    depends_on: list[str] = field(default_factory=list)
    #: The ordered steps apply will run (Language: export, import, train, deploy), for reviewers and the executor.
    steps: list[str] = field(default_factory=list)
    #: CU: per model role, the model, the deployment the target will use and why.
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Family-specific inputs apply uses exactly as reviewed (CU /defaults value, Language train/deploy settings).
    settings: dict[str, Any] = field(default_factory=dict)
    #: A readable summary of what changed in the definition (deepdiff), one line per difference.
    diff: list[str] = field(default_factory=list)

    @property
    def actions(self) -> list[str]:
        """The JSON ``actions`` list (Terraform's): a replace is delete-then-create unless create_before_destroy."""
        if self.create_before_destroy and self.action is Action.REPLACE:
            return list(CREATE_BEFORE_DESTROY)
        return list(_ACTION_LIST[self.action])

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "address": self.address,
            "rule": self.rule,
            "kind": self.kind.value,
            "actions": (list(CREATE_BEFORE_DESTROY) if self.create_before_destroy and self.action is Action.REPLACE
                        else list(_ACTION_LIST[self.action])),
            "reason": self.reason,
            "source": self.source.to_dict(),
            "target": self.target.to_dict(),
            "flags": self.flags.to_dict(),
            "warnings": self.warnings,
            "errors": self.errors,
            "preconditions": self.preconditions,
        }
        if self.depends_on:
            d["depends_on"] = self.depends_on
        if self.steps:
            d["steps"] = self.steps
        if self.deployments:
            d["deployments"] = self.deployments
        if self.settings:
            d["settings"] = self.settings
        if self.diff:
            d["diff"] = self.diff
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Change:
        actions = d["actions"]
        return cls(
            d["address"], d["rule"], _KIND_BY_VALUE[d["kind"]], _BY_ACTIONS[tuple(actions)], d["reason"],
            Source.from_dict(d["source"]), Target.from_dict(d["target"]), Flags.from_dict(d["flags"]),
            d["warnings"], d["errors"], d["preconditions"], actions == CREATE_BEFORE_DESTROY,
            d.get("depends_on") or [], d.get("steps") or [], d.get("deployments") or {}, d.get("settings") or {},
            d.get("diff") or [],
        )


@dataclass(slots=True)
class SpecRef:
    """The spec a plan was made from: its path (as given to plan) and digest."""

    path: str
    digest: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "digest": self.digest}


@dataclass(slots=True)
class PlanState:
    """The state a plan was made from: its lineage and serial at plan time (lineage None: there was no state),
    ``recover_lineage`` (a lost state whose copies all name one lineage), and ``location``: where it lives, the
    backend's own keys (``backend``, ``path`` or the blob's account URL, container, blob, credential env names;
    never a secret)."""

    lineage: str | None
    serial: int
    location: dict[str, Any] = field(default_factory=dict)
    recover_lineage: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {**self.location, "lineage": self.lineage, "serial": self.serial}
        if self.recover_lineage is not None:
            d["recover_lineage"] = self.recover_lineage
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlanState:
        location = {k: v for k, v in d.items() if k not in ("lineage", "serial", "recover_lineage")}
        return cls(d["lineage"], d["serial"], location, d.get("recover_lineage"))


@dataclass(slots=True)
class PlanOptions:
    """What plan was asked for, which apply keeps. None: not in the plan (a 1.0 plan may lack all but
    ``allow_delete``)."""

    allow_delete: bool = False
    parallelism: int | None = None
    per_endpoint_parallelism: int | None = None
    target: list[str] | None = None
    exclude: list[str] | None = None
    #: The addresses ``plan --replace`` named (issue 17); None: none were asked for (absent in the JSON, so
    #: plans without it read back byte-identical).
    replace: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"allow_delete": self.allow_delete}
        for k in ("parallelism", "per_endpoint_parallelism", "target", "exclude", "replace"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlanOptions:
        return cls(d["allow_delete"], d.get("parallelism"), d.get("per_endpoint_parallelism"), d.get("target"),
                   d.get("exclude"), d.get("replace"))


@dataclass(slots=True)
class Plan:
    """The whole plan (schemas/plan.schema.json). ``digest`` is None until ``drplan.plan.planfile.seal``."""

    format_version: str
    drplan_version: str
    created_at: str
    spec: SpecRef
    state: PlanState
    options: PlanOptions
    #: resource name -> the spec's public description (family, endpoint, region, resource_id, api_version,
    #: encryption, ...): what apply connects to.
    resources: dict[str, dict[str, Any]]
    changes: list[Change]
    #: action spelling -> number of changes
    summary: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    applyable: bool = True
    #: Set by ``planfile.seal`` over the plan's canonical JSON. A sealed plan is not changed afterwards (its digest
    #: covers it): change it, then seal it again.
    digest: str | None = None

    def change(self, address: str) -> Change | None:
        """The change of ``address``, if the plan has one."""
        return next((c for c in self.changes if c.address == address), None)

    def to_dict(self) -> dict[str, Any]:
        d = self.header_dict()
        d["changes"] = [c.to_dict() for c in self.changes]
        return d

    def header_dict(self) -> dict[str, Any]:
        """``to_dict`` without ``changes``: what ``planfile`` encodes around the changes it streams one at a time,
        so that a plan of 60,000 changes never exists as one JSON document in memory (issue 18)."""
        d: dict[str, Any] = {
            "format_version": self.format_version,
            "drplan_version": self.drplan_version,
            "created_at": self.created_at,
            "spec": self.spec.to_dict(),
            "state": self.state.to_dict(),
            "options": self.options.to_dict(),
            "resources": self.resources,
            "summary": self.summary,
            "warnings": self.warnings,
            "errors": self.errors,
            "applyable": self.applyable,
        }
        if self.digest is not None:
            d["digest"] = self.digest
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, consume: bool = False) -> Plan:
        """``consume``: the caller hands ``d`` over (``planfile.load_plan``, which parsed it): each change's JSON
        containers are released as soon as that change is typed, so the document and the typed plan are not both
        whole in memory at once (issue 18). ``d["changes"]`` is left a list of None."""
        from_dict = Change.from_dict
        raw = d["changes"]
        changes: list[Change] = []
        for i, c in enumerate(raw):
            changes.append(from_dict(c))
            if consume:
                raw[i] = None
        return cls(
            d["format_version"], d["drplan_version"], d["created_at"], SpecRef(d["spec"]["path"], d["spec"]["digest"]),
            PlanState.from_dict(d["state"]), PlanOptions.from_dict(d["options"]), d["resources"],
            changes, d["summary"], d["warnings"], d["errors"], d["applyable"], d.get("digest"),
        )
