"""Validate HTTP responses against the official (swagger 2.0) OpenAPI files in ``shared/contracts/openapi``.

Independent of drplan: this module imports nothing from the ``drplan`` package. It is used by the emulator
conformance tests (``test_conformance_sdk.py``) to check every response body the official Azure SDKs receive.

How a swagger 2.0 document is turned into JSON Schema (draft 2020-12)
-------------------------------------------------------------------
* ``#/definitions/X`` becomes ``<urn>#/$defs/X`` in one ``referencing`` resource per spec file, so every ``$ref``
  (also recursive ones such as ``DocumentIntelligenceError.details``) resolves through a registry. Keywords that sit
  beside a ``$ref`` are dropped: swagger 2.0 ignores them (they are only descriptions/annotations in these files).
* ``x-nullable: true`` -> ``anyOf: [schema, {"type": "null"}]`` (no such schema in the four files in use, handled anyway).
* ``readOnly`` / ``x-ms-mutability`` are annotations only: nothing to relax, since we only validate *responses*.
* ``discriminator`` (``kind`` on the operation-details types): a polymorphic base ``B`` is validated as
  "``B``'s own properties, and if ``kind`` equals a sub-type's ``x-ms-discriminator-value`` then also that sub-type"
  (``if``/``then``), which is the swagger 2.0 meaning. Sub-types ``allOf`` an *open* copy of the base (``B__open``) so
  there is no cycle and the strictness rule below still sees the sub-type's extra properties (``result``).
* Formats: ``date-time`` (RFC 3339), ``uri``/``url`` (absolute URL with scheme and host), ``uuid`` and ``int32`` are
  checked by our own checkers (no optional jsonschema extras needed). Other formats are not checked.
* swagger 2.0 ``exclusiveMinimum``/``exclusiveMaximum`` booleans are converted to the draft 2020-12 numeric form.

Document Intelligence v4 (``documentintelligence-*.json``)
--------------------------------------------------------
* ``Retry-After`` declared on the ``:copyTo`` 202s is not required: the live service sends none there (recorded
  traffic, issue 13; FR v3's spec declares none either, contracts §3). When sent, it must still be an integer.

Form Recognizer v2.x (``formrecognizer-v2.1.json``, ``formrecognizer-v2.0.json``)
-------------------------------------------------------------------------------
* The version is a path segment (``/formrecognizer/v2.1/...``), not an ``api-version`` query (contracts §1, §4):
  ``v2.1`` maps to the v2.1 file; ``v2.0`` and ``v2.0-preview`` (which introduced copy) to the v2.0 file.
* ``GET /custom/models`` exists only as the ``x-ms-paths`` entries ``/custom/models?op=full`` and ``?op=summary``;
  a request is matched to the one whose query constraint it satisfies (``SpecValidator.match_path(..., query)``).
* Paths of these two files match case-insensitively: the live service hands out ``.../copyresults/{id}`` in
  ``Operation-Location`` where the spec writes ``copyResults`` (contracts §4).

Content Understanding (``contentunderstanding-2025-11-01.json``, ``contentunderstanding-2025-05-01-preview.json``)
---------------------------------------------------------------------------------------------------------------
* ``POST /analyzers/{id}:copy`` answering 200/201 is checked against ``PUT /analyzers/{id}``'s 201 (ContentAnalyzer +
  ``Operation-Location``): the live service answers 201 with the analyzer, not the spec's 202 (contracts §5.3).
* The preview-era token flow (``:getCopyAuthorization``, contracts §5.4) is in no spec and is not checked.

Deliberate strictness (see ``SpecValidator.__init__``):
* STRICTER than swagger 2.0: an object schema that declares ``properties`` and no ``additionalProperties`` does not
  accept undeclared properties (``unevaluatedProperties: false``). Swagger 2.0 would allow them, but the emulator is
  built from these very files, so a field it adds (or misspells: ``innerError`` for ``innererror``) is a discrepancy we
  want to see. Pass ``allow_additional_properties=True`` to get plain swagger 2.0 behaviour.
* Enums are closed sets, including ``x-ms-enum.modelAsString: true`` ones (``OperationKind``, the DI operation
  status): AutoRest clients tolerate unknown values there, but the emulator should only ever produce documented ones.
  (The model/operation ``apiVersion`` fields on the management paths are plain strings in all four files, so the
  shared v3/v4 store of contracts §3, whose models report the version they were built with, needs no relaxation;
  FR 2022-08-31's closed ``ApiVersion`` enum is only used by ``AnalyzeResult``.)
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OPENAPI_DIR = Path(__file__).resolve().parents[3] / "shared" / "contracts" / "openapi"

# spec file -> (URL segment after the endpoint, api-version)
SPEC_FILES: dict[str, tuple[str, str]] = {
    "documentintelligence-2024-11-30.json": ("documentintelligence", "2024-11-30"),
    "documentintelligence-2024-02-29-preview.json": ("documentintelligence", "2024-02-29-preview"),
    "formrecognizer-2023-07-31.json": ("formrecognizer", "2023-07-31"),
    "formrecognizer-2022-08-31.json": ("formrecognizer", "2022-08-31"),
    # Content Understanding (contracts §5)
    "contentunderstanding-2025-11-01.json": ("contentunderstanding", "2025-11-01"),
    "contentunderstanding-2025-05-01-preview.json": ("contentunderstanding", "2025-05-01-preview"),
    # Language authoring (contracts §6): "common.json" refs resolve to language-common-<ver>.json (_with_companion)
    "language-authoring-2023-04-01.json": ("language", "2023-04-01"),
    "language-authoring-2022-05-01.json": ("language", "2022-05-01"),
    "language-authoring-2024-11-15-preview.json": ("language", "2024-11-15-preview"),  # self-contained (TypeSpec)
}
SPEC_BY_FAMILY_VERSION = {v: k for k, v in SPEC_FILES.items()}
# Form Recognizer v2.x: version path segment (after /formrecognizer) -> spec file (contracts §4)
V2_SPEC_FILES: dict[str, str] = {
    "v2.1": "formrecognizer-v2.1.json",
    "v2.0": "formrecognizer-v2.0.json",
    "v2.0-preview": "formrecognizer-v2.0.json",
}
# spec files whose paths match case-insensitively (see the module docstring)
CASE_INSENSITIVE_SPECS = frozenset(V2_SPEC_FILES.values())

_HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}


# --------------------------------------------------------------------------------------------------- formats

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)

FORMAT_CHECKER = FormatChecker(formats=())


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _check_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    text = value.replace("z", "Z").replace("t", "T")
    # Python < 3.11 fromisoformat cannot do 'Z' nor arbitrary fractions; normalise both.
    text = text.replace("Z", "+00:00")
    text = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], text)
    datetime.fromisoformat(text)
    return True


@FORMAT_CHECKER.checks("uri")
@FORMAT_CHECKER.checks("url")
def _check_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


@FORMAT_CHECKER.checks("uuid", raises=ValueError)
def _check_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    uuid.UUID(value)
    return True


@FORMAT_CHECKER.checks("int32")
def _check_int32(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        return True
    return -(2**31) <= value < 2**31


# --------------------------------------------------------------------------------------------------- conversion

_KEEP = {
    "type", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems",
    "uniqueItems", "format", "multipleOf", "minProperties", "maxProperties",
}


def _urn(spec_file: str) -> str:
    return f"urn:drplan-openapi:{spec_file}"


class _Converter:
    def __init__(self, spec_file: str, document: Mapping[str, Any], allow_additional_properties: bool):
        self.spec_file = spec_file
        self.base = _urn(spec_file)
        self.definitions: Mapping[str, Any] = document.get("definitions", {})
        self.allow_additional = allow_additional_properties
        # base definition name -> {discriminator value: sub-type definition name}
        self.subtypes: dict[str, dict[str, str]] = {}
        self.allof_targets: set[str] = set()
        for name, schema in self.definitions.items():
            for part in schema.get("allOf", []):
                target = self._ref_name(part.get("$ref", ""))
                if target:
                    self.allof_targets.add(target)
                    if "discriminator" in self.definitions.get(target, {}):
                        value = schema.get("x-ms-discriminator-value", name)
                        self.subtypes.setdefault(target, {})[value] = name

    @staticmethod
    def _ref_name(ref: str) -> str | None:
        prefix = "#/definitions/"
        return ref[len(prefix):] if ref.startswith(prefix) else None

    def ref(self, name: str, *, open_variant: bool = False) -> dict[str, str]:
        return {"$ref": f"{self.base}#/$defs/{name}{'__open' if open_variant else ''}"}

    def convert(self, schema: Any, *, open_top: bool = False) -> Any:
        if not isinstance(schema, Mapping):
            return schema
        if "$ref" in schema:
            name = self._ref_name(schema["$ref"])
            if name is None:
                raise ValueError(f"{self.spec_file}: unsupported $ref {schema['$ref']!r}")
            out: dict[str, Any] = self.ref(name)
            return self._nullable(schema, out)

        out = {k: copy.deepcopy(v) for k, v in schema.items() if k in _KEEP}
        if out.get("type") == "file":
            out.pop("type")
        for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if schema.get(flag) is True and bound in out:
                out[flag] = out.pop(bound)
        if "properties" in schema:
            out["properties"] = {k: self.convert(v) for k, v in schema["properties"].items()}
        if "required" in schema:
            out["required"] = list(schema["required"])
        if "items" in schema:
            out["items"] = self.convert(schema["items"])
        if "additionalProperties" in schema:
            ap = schema["additionalProperties"]
            out["additionalProperties"] = ap if isinstance(ap, bool) else self.convert(ap)
        if "allOf" in schema:
            parts = []
            for part in schema["allOf"]:
                name = self._ref_name(part.get("$ref", "")) if isinstance(part, Mapping) else None
                parts.append(self.ref(name, open_variant=True) if name else self.convert(part))
            out["allOf"] = parts
        is_object = "properties" in schema or "allOf" in schema
        if is_object and "additionalProperties" not in schema and not open_top and not self.allow_additional:
            out["unevaluatedProperties"] = False
        return self._nullable(schema, out)

    @staticmethod
    def _nullable(source: Mapping[str, Any], out: dict[str, Any]) -> dict[str, Any]:
        if source.get("x-nullable") is True:
            return {"anyOf": [out, {"type": "null"}]}
        return out

    def build(self) -> dict[str, Any]:
        defs: dict[str, Any] = {}
        for name, schema in self.definitions.items():
            if name in self.subtypes:
                prop = schema["discriminator"]
                # the raw base (no dispatch) is the open variant sub-types build on
                defs[f"{name}__open"] = self.convert(schema, open_top=True)
                dispatch: list[dict[str, Any]] = [self.ref(name, open_variant=True)]
                for value, sub in sorted(self.subtypes[name].items()):
                    dispatch.append({
                        "if": {"properties": {prop: {"const": value}}, "required": [prop]},
                        "then": self.ref(sub),
                    })
                wrapper: dict[str, Any] = {"allOf": dispatch}
                if not self.allow_additional:
                    wrapper["unevaluatedProperties"] = False
                defs[name] = wrapper
            else:
                defs[name] = self.convert(schema)
                if name in self.allof_targets:
                    defs[f"{name}__open"] = self.convert(schema, open_top=True)
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": self.base, "$defs": defs}


# --------------------------------------------------------------------------------------------------- spec access

@dataclass(frozen=True)
class ResponseSpec:
    spec_file: str
    path_template: str  # as written in the spec, incl. an x-ms-paths "?_overload=..." suffix
    method: str
    status: str  # the key used in the spec: "200", "202", "204" or "default"
    operation_id: str
    schema: dict[str, Any] | None  # converted JSON schema, None = no body
    headers: Mapping[str, Any]


class SpecValidator:
    """One swagger 2.0 file: look up an operation's response and validate bodies against it."""

    def __init__(self, spec_file: str, *, allow_additional_properties: bool = False,
                 openapi_dir: Path = OPENAPI_DIR):
        self.spec_file = spec_file
        self.document = _with_companion(spec_file, json.loads((openapi_dir / spec_file).read_text(encoding="utf-8")), openapi_dir)
        converter = _Converter(spec_file, self.document, allow_additional_properties)
        self._converter = converter
        self.converted = converter.build()
        self.registry: Registry = Registry().with_resource(
            converter.base, Resource.from_contents(self.converted, default_specification=DRAFT202012)
        )
        host = self.document.get("x-ms-parameterized-host", {}).get("hostTemplate", "")
        self.base_path = self.document.get("basePath") or ("/" + host.split("/", 1)[1] if "/" in host else "")
        self.operations: dict[tuple[str, str], Mapping[str, Any]] = {}
        for section in ("paths", "x-ms-paths"):
            for template, item in self.document.get(section, {}).items():
                for method, op in item.items():
                    if method in _HTTP_METHODS:
                        self.operations[(template, method.upper())] = op
        # plain (non-overload) templates, for URL matching
        flags = re.IGNORECASE if spec_file in CASE_INSENSITIVE_SPECS else 0
        self._matchers = [
            (template, method, _template_regex(template, flags))
            for (template, method) in self.operations
            if "?" not in template
        ]
        # x-ms-paths templates that carry a real query constraint (FR v2 "/custom/models?op=full"); the DI
        # "?_overload=..." entries are overloads of one URL, picked by overload_for_kind instead
        self._query_matchers = [
            (template, method, _template_regex(template.split("?", 1)[0], flags), parse_qs(template.split("?", 1)[1]))
            for (template, method) in self.operations
            if "?" in template and "_overload=" not in template
        ]

    # -- lookup
    def response(self, path_template: str, method: str, status: int | str) -> ResponseSpec:
        method = method.upper()
        try:
            op = self.operations[(path_template, method)]
        except KeyError:
            raise KeyError(f"{self.spec_file}: no operation {method} {path_template}") from None
        responses = op["responses"]
        key = str(status)
        if key not in responses:
            if "default" not in responses:
                raise KeyError(f"{self.spec_file}: {method} {path_template} declares no response {status}")
            key = "default"
        resp = responses[key]
        schema = self._converter.convert(resp["schema"]) if "schema" in resp else None
        return ResponseSpec(self.spec_file, path_template, method, key, op.get("operationId", ""), schema,
                            resp.get("headers", {}))

    def match_path(self, path: str, method: str, query: Mapping[str, list[str]] | None = None) -> str | None:
        """Map a concrete path (after the base path, e.g. '/documentModels/abc:copyTo') to its spec template.

        ``query`` (as from ``parse_qs``) lets a request match an ``x-ms-paths`` template with a query constraint
        (``/custom/models?op=full``) when no plain template fits."""
        method = method.upper()
        for template, m, regex in self._matchers:
            if m == method and regex.match(path):
                return template
        if query is not None:
            for template, m, regex, constraint in self._query_matchers:
                if m == method and regex.match(path) and all(query.get(k) == v for k, v in constraint.items()):
                    return template
        return None

    def overload_for_kind(self, path_template: str, method: str, kind: str | None) -> str:
        """x-ms-paths overloads of one URL (GET /operations/{id}): pick the one whose 200 schema has this kind."""
        if kind is None:
            return path_template
        for (template, m), op in self.operations.items():
            if m != method.upper() or template.split("?", 1)[0] != path_template:
                continue
            ref = op["responses"].get("200", {}).get("schema", {}).get("$ref", "")
            name = self._converter._ref_name(ref)
            if name and self._converter.definitions.get(name, {}).get("x-ms-discriminator-value") == kind:
                return template
        return path_template

    # -- validation
    def errors(self, schema: Mapping[str, Any], body: Any) -> list[str]:
        validator = Draft202012Validator(schema, registry=self.registry, format_checker=FORMAT_CHECKER)
        errs = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
        # A failing subschema drops its annotations, so every property it covered is then also reported as
        # "unevaluated" by the enclosing object: hide those cascades when a real error exists at/below that object.
        real = [list(e.absolute_path) for e in errs if e.validator != "unevaluatedProperties"]
        found: list[str] = []
        for err in errs:
            here = list(err.absolute_path)
            if err.validator == "unevaluatedProperties" and any(r[: len(here)] == here for r in real):
                continue
            text = _describe(err)
            if text not in found:
                found.append(text)
        return found

    def validate(self, path_template: str, method: str, status: int | str, body: Any) -> None:
        """Raise jsonschema.ValidationError-like AssertionError listing every problem."""
        spec = self.response(path_template, method, status)
        if spec.schema is None:
            if body not in (None, b"", ""):
                raise AssertionError(f"{spec.operation_id} {status}: spec declares no body, got {body!r}")
            return
        problems = self.errors(spec.schema, body)
        if problems:
            raise AssertionError(f"{spec.operation_id} {status}:\n  " + "\n  ".join(problems))

    def definition_errors(self, name: str, body: Any) -> list[str]:
        return self.errors(self._converter.ref(name), body)


def _describe(err: jsonschema.ValidationError) -> str:
    where = "/" + "/".join(str(p) for p in err.absolute_path)
    text = f"{where}: {err.message}"
    if err.context:
        best = jsonschema.exceptions.best_match(err.context)
        if best is not None:
            text += f" (e.g. {'/' + '/'.join(str(p) for p in best.absolute_path)}: {best.message})"
    return text


def _with_companion(spec_file: str, document: dict[str, Any], openapi_dir: Path) -> dict[str, Any]:
    """Language authoring files ``$ref`` ``common.json#/...``; here that companion is ``language-common-<ver>.json``
    (contracts §0 "Rename note"). Inline its definitions and parameters and point the refs at them (the names do not
    clash: the authoring file's own definitions are all ``TextAnalysisAuthoring*``)."""
    m = re.match(r"^language-authoring-(.+)\.json$", spec_file)
    common_path = openapi_dir / f"language-common-{m.group(1)}.json" if m else None
    if common_path is None or not common_path.exists():
        return document
    common = json.loads(common_path.read_text(encoding="utf-8"))

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (v.replace("common.json#", "#", 1) if k == "$ref" and isinstance(v, str) else rewrite(v))
                    for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    document = rewrite(document)
    for section in ("definitions", "parameters"):
        own = document.get(section, {})
        clash = set(own) & set(common.get(section, {}))
        if clash:
            raise ValueError(f"{spec_file}: {section} {sorted(clash)} also defined in {common_path.name}")
        document[section] = {**common.get(section, {}), **own}
    return document


def _template_regex(template: str, flags: int = 0) -> re.Pattern[str]:
    out, pos = "", 0
    for m in re.finditer(r"\{([^}]+)\}", template):
        out += re.escape(template[pos:m.start()]) + f"(?P<{m.group(1)}>[^/:?]+)"
        pos = m.end()
    out += re.escape(template[pos:])
    return re.compile(f"^{out}$", flags)


@lru_cache(maxsize=None)
def load_spec(spec_file: str, allow_additional_properties: bool = False) -> SpecValidator:
    return SpecValidator(spec_file, allow_additional_properties=allow_additional_properties)


# --------------------------------------------------------------------------------------------------- exchanges

@dataclass
class Exchange:
    """One HTTP round trip as the SDK saw it (recorded by the test's pipeline hook)."""

    method: str
    url: str
    status: int
    headers: Mapping[str, str]  # response headers (case-insensitive mapping or plain dict)
    body: Any  # parsed JSON, None for an empty body, or the raw text if it is not JSON
    request_headers: Mapping[str, str] = field(default_factory=dict)
    raw_body: bytes = b""

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.headers.items():
            if k.lower() == lname:
                return v
        return None


@dataclass
class Checked:
    exchange: Exchange
    spec: ResponseSpec | None
    problems: list[str]


def check_exchange(ex: Exchange, endpoint: str | None = None) -> Checked:
    """Map an exchange to its spec operation (by URL family + api-version + path + method) and validate it.

    ``endpoint`` (e.g. ``http://127.0.0.1:PORT``, an account origin) is stripped from the URL; if omitted, everything
    up to the family segment (``/documentintelligence`` or ``/formrecognizer``) is. Form Recognizer v2.x URLs
    (``/formrecognizer/v2.1/...``) are mapped by their version path segment instead of ``api-version``.
    """
    parts = urlsplit(ex.url)
    query = parse_qs(parts.query)
    api_version = (query.get("api-version") or [None])[0]
    path = parts.path
    if endpoint is not None:
        ep_path = urlsplit(endpoint).path.rstrip("/")
        if not path.startswith(ep_path + "/"):
            return Checked(ex, None, [f"{ex.url}: not under endpoint {endpoint}"])
        path = path[len(ep_path):]
    m = re.search(r"/(documentintelligence|formrecognizer|language|contentunderstanding)(/.*)$", path)
    if not m:
        return Checked(ex, None, [f"{ex.method} {ex.url}: no /documentintelligence or /formrecognizer segment"])
    family, op_path = m.group(1), m.group(2)
    v2 = re.match(r"^/(v2\.[^/]*)(/.*)?$", op_path) if family == "formrecognizer" else None
    if v2:  # path-versioned FR v2.x: no api-version query (contracts §4)
        spec_file = V2_SPEC_FILES.get(v2.group(1).lower())
        if spec_file is None:
            return Checked(ex, None, [f"{ex.method} {ex.url}: no spec for {family} {v2.group(1)}"])
        op_path = v2.group(2) or "/"
    else:
        spec_file = SPEC_BY_FAMILY_VERSION.get((family, api_version or ""))
        if spec_file is None:
            return Checked(ex, None, [f"{ex.method} {ex.url}: no spec for {family} api-version={api_version}"])
    spec = load_spec(spec_file)
    template = spec.match_path(op_path, ex.method, query)
    if template is None:
        return Checked(ex, None, [f"{ex.method} {ex.url}: path {op_path} is not an operation of {spec_file}"])
    if ex.method.upper() == "GET" and ex.status == 200 and isinstance(ex.body, Mapping):
        template = spec.overload_for_kind(template, ex.method, ex.body.get("kind"))
    method, status = ex.method, ex.status
    if family == "contentunderstanding" and template.endswith(":copy") and status in (200, 201):
        # CU :copy answers 201 + ContentAnalyzer (live, and the SDK rejects the spec's 202; contracts §5.3) and the
        # token flow 200 + ContentAnalyzer (§5.4): check it as PUT /analyzers/{id}'s 201 (same body and headers)
        template, method, status = "/analyzers/{analyzerId}", "PUT", 201
    problems: list[str] = []
    try:
        rspec = spec.response(template, method, status)
    except KeyError as exc:
        return Checked(ex, None, [str(exc)])
    label = f"{ex.method} {op_path} -> {ex.status} [{spec_file} {rspec.operation_id} '{rspec.status}']"

    if rspec.schema is None:
        if ex.raw_body.strip():
            problems.append(f"{label}: spec declares no body, got {ex.raw_body[:200]!r}")
    else:
        ctype = ex.header("Content-Type") or ""
        if "application/json" not in ctype.lower():
            problems.append(f"{label}: Content-Type {ctype!r} is not application/json")
        if isinstance(ex.body, str) or (ex.body is None):
            problems.append(f"{label}: body is not JSON: {ex.raw_body[:200]!r}")
        else:
            problems += [f"{label} {p}" for p in spec.errors(rspec.schema, ex.body)]

    for hname, hschema in rspec.headers.items():
        value = ex.header(hname)
        if hname.lower() == "x-ms-client-request-id":
            sent = next((v for k, v in ex.request_headers.items() if k.lower() == hname.lower()), None)
            if sent is not None and value != sent:
                problems.append(f"{label}: header {hname} = {value!r}, expected the echo of {sent!r}")
            continue
        if value is None:
            if not (hname.lower() == "retry-after" and template.endswith(":copyTo") and status == 202):
                problems.append(f"{label}: declared response header {hname} missing")  # (module docstring: DI copyTo)
            continue
        if hschema.get("type") == "integer" and not re.fullmatch(r"\d+", value.strip()):
            problems.append(f"{label}: header {hname} = {value!r} is not an integer")
        if hschema.get("format") in ("uri", "url") and not _check_uri(value):
            problems.append(f"{label}: header {hname} = {value!r} is not an absolute URL")
    return Checked(ex, rspec, problems)


def conformance_problems(exchanges: Iterable[Exchange], endpoint: str | None = None) -> list[str]:
    out: list[str] = []
    for ex in exchanges:
        out += check_exchange(ex, endpoint).problems
    return out
