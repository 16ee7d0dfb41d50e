"""Property tests (hypothesis) over service answers (issue 19): whatever a service, a proxy or an attacker answers,
every family's adapter, the pager and the poller end in a result or in one DrplanError naming the resource and the
operation, within a bounded number of requests, never "internal error", never a key in a message or on another host.

The answers come from an httpx.MockTransport serving generated bodies (JSON of every shape, the fields the adapters
read with values of every type, raw bytes, status codes and headers) through the real AzureClient, adapters, pager
and poller. Time is fake (the client's sleep returns at once and counts), so a bounded wait is a bounded number of
requests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drplan.azure.client import AzureClient
from drplan.azure.lro import poll
from drplan.azure.paging import iterate_pages
from drplan.errors import DrplanError
from drplan.families.base import Connection
from drplan.families.content_understanding.adapter import AnalyzersAdapter
from drplan.families.document_intelligence.adapter import CopyAuthorization, DocumentModelsAdapter
from drplan.families.form_recognizer_v2.adapter import FormRecognizerV2Adapter, copy_errors
from drplan.families.language.adapter import ProjectsAdapter
from drplan.spec.model import AssetKind

EP = "http://res.example"
KEY = "k3y-" + "s" * 28
FOREIGN = "http://evil.example"
#: At most this many requests per example: a bounded wait is a bounded number of requests on a fake clock.
MAX_REQUESTS = 400

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)

scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
urls = st.sampled_from([f"{EP}/next?page=2", f"{EP}/next?page=3", f"{FOREIGN}/steal", "not a url", "", "http://",
                        f"{EP}/documentintelligence/operations/1", "ftp://res.example/x", f"{EP}/\u00e9"])
#: Every field an adapter, the pager or the poller reads, with values of every type (or a plausible one).
FIELDS = ["value", "modelList", "nextLink", "modelId", "classifierId", "analyzerId", "projectName", "status",
          "createdDateTime", "modifiedDateTime", "lastUpdatedDateTime", "expirationDateTime", "tags", "description",
          "docTypes", "customDocumentModels", "summary", "modelInfo", "accessToken", "targetModelId",
          "targetModelLocation", "expirationDateTimeTicks", "modelDeployments", "expiresAt", "authorizationToken",
          "source", "models", "config", "warnings", "createdAt", "lastModifiedAt", "error", "errors", "result",
          "percentCompleted", "resultUrl", "jobId", "metadata", "assets", "label", "deploymentName", "copyResult",
          "count", "limit", "kind", "operationId", "resourceLocation", "lastModifiedDateTime"]
plausible = {
    "status": st.sampled_from(["succeeded", "running", "failed", "notStarted", "weird", "Succeeded", "", None, 3]),
    "nextLink": urls | st.none(),
    "resultUrl": urls,
}


def _field(name: str) -> st.SearchStrategy[Any]:
    return (plausible.get(name, json_values) | json_values) if name in plausible else json_values


objects = st.fixed_dictionaries({}, optional={name: _field(name) for name in FIELDS})
lists_of_objects = st.fixed_dictionaries(
    {}, optional={"value": st.lists(objects, max_size=3), "modelList": st.lists(objects, max_size=3),
                  "nextLink": urls | st.none()})
bodies = st.one_of(
    objects.map(lambda o: json.dumps(o, allow_nan=True).encode()),
    lists_of_objects.map(lambda o: json.dumps(o, allow_nan=True).encode()),
    json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    st.binary(max_size=40),
    st.just(b"[" * 5000 + b"]" * 5000),  # nested too deeply for the parser
)
answers = st.tuples(
    st.sampled_from([200, 200, 200, 201, 202, 204, 400, 401, 404, 409, 429, 500, 503]),
    bodies,
    st.fixed_dictionaries({}, optional={"operation-location": urls, "retry-after": st.sampled_from(
        ["0", "1", "86400", "-5", "soon", "1e308"]), "content-type": st.sampled_from(["application/json",
                                                                                      "text/html"])}),
)


class Served:
    """Serves the generated answers in turn (the last one again and again); records every request."""

    def __init__(self, answers: list[tuple[int, bytes, dict[str, str]]]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert len(self.requests) <= MAX_REQUESTS, "unbounded: too many requests for one operation"
        status, body, headers = self.answers[min(len(self.requests), len(self.answers)) - 1]
        return httpx.Response(status, content=body, headers=headers)


def conn(family: str, api_version: str) -> Connection:
    return Connection(name="res", family=family, endpoint=EP, api_version=api_version, region="eastus",
                      resource_id="/subscriptions/s/rg/r/providers/Microsoft.CognitiveServices/accounts/res", key=KEY)


class FakeTime:
    """The client's clock and sleep: a sleep returns at once and moves the clock on (budgets, deadlines and the
    endpoint's Retry-After pause all count on it)."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def run_ops(answers: list[tuple[int, bytes, dict[str, str]]], ops) -> None:  # type: ignore[no-untyped-def]
    """Run each operation against the served answers: it returns, or raises one DrplanError fit for a user."""
    served = Served(answers)

    async def go() -> None:
        fake = FakeTime()
        async with AzureClient(transport=httpx.MockTransport(served), tls=False, sleep=fake.sleep, clock=fake.clock,
                               max_attempts=3, operation_deadline=10.0) as client:
            for op in ops:
                served.requests.clear()
                try:
                    await op(client)
                except DrplanError as exc:
                    text = str(exc)
                    assert "internal error" not in text
                    assert KEY not in text
                    assert text.startswith("res: ") or "res.example" in text or "evil.example" in text, text
                    assert all(len(line) <= 2200 for line in text.splitlines())
        for request in served.requests:
            if request.url.host != "res.example":
                assert KEY not in request.headers.get("ocp-apim-subscription-key", ""), "key sent to another host"

    asyncio.run(go())


@SETTINGS
@given(st.lists(answers, min_size=1, max_size=5))
def test_document_intelligence_adapter(answers):
    def a(client: AzureClient) -> DocumentModelsAdapter:
        return DocumentModelsAdapter(client, conn("document-intelligence", "2024-11-30"))

    auth = CopyAuthorization(body={"targetModelId": "t"}, target_id="t", target_location=f"{EP}/x", expires="")
    run_ops(answers, [
        lambda c: a(c).inventory(frozenset({AssetKind.DOCUMENT_MODEL, AssetKind.DOCUMENT_CLASSIFIER}), quota=True),
        lambda c: a(c).get(AssetKind.DOCUMENT_MODEL, "m"),
        lambda c: a(c).authorize_copy(AssetKind.DOCUMENT_MODEL, "t", tags={"a": "b"}),
        lambda c: a(c).copy_to(AssetKind.DOCUMENT_MODEL, "m", auth),
        lambda c: a(c).find_copy_operation(AssetKind.DOCUMENT_MODEL, f"{EP}/x", "2024-01-01T00:00:00Z"),
        lambda c: a(c).wait(f"{EP}/documentintelligence/operations/1", what="copy", learn="copy"),
    ])


@SETTINGS
@given(st.lists(answers, min_size=1, max_size=5))
def test_form_recognizer_v2_adapter(answers):
    def a(client: AzureClient) -> FormRecognizerV2Adapter:
        return FormRecognizerV2Adapter(client, conn("form-recognizer", "2.1"))

    async def copy_result(client: AzureClient) -> None:
        body = await a(client).wait(f"{EP}/formrecognizer/v2.1/custom/models/m/copyResults/1", what="copy")
        copy_errors(body)

    run_ops(answers, [
        lambda c: a(c).inventory(frozenset({AssetKind.CUSTOM_MODEL}), quota=True),
        lambda c: a(c).get(AssetKind.CUSTOM_MODEL, "m"),
        lambda c: a(c).copy_authorization(),
        copy_result,
        lambda c: a(c).wait_model("m", interval=0.1),
    ])


@SETTINGS
@given(st.lists(answers, min_size=1, max_size=5))
def test_content_understanding_adapter(answers):
    def a(client: AzureClient) -> AnalyzersAdapter:
        return AnalyzersAdapter(client, conn("content-understanding", "2025-11-01"))

    run_ops(answers, [
        lambda c: a(c).inventory(frozenset({AssetKind.ANALYZER})),
        lambda c: a(c).get(AssetKind.ANALYZER, "x"),
        lambda c: a(c).set_defaults({"m": "d"}),
        lambda c: a(c).grant_copy("x", "/subscriptions/s/t", "westus"),
        lambda c: a(c).copy_token("x", target_url=f"{EP}/y", encryption_key=None),
        lambda c: a(c).copy("y", {"sourceAnalyzerId": "x"}, allow_replace=False),
    ])


@SETTINGS
@given(st.lists(answers, min_size=1, max_size=5))
def test_language_adapter(answers):
    def a(client: AzureClient) -> ProjectsAdapter:
        return ProjectsAdapter(client, conn("language", "2023-04-01"))

    run_ops(answers, [
        lambda c: a(c).inventory(frozenset({AssetKind.LANGUAGE_PROJECT})),
        lambda c: a(c).get(AssetKind.LANGUAGE_PROJECT, "p"),
        lambda c: a(c).list_models("p"),
        lambda c: a(c).get_deployment("p", "prod"),
        lambda c: a(c).find_train_job("p", "v1"),
        lambda c: a(c).export("p", interval=0.1),
    ])


@SETTINGS
@given(st.lists(answers, min_size=1, max_size=5))
def test_pager_and_poller(answers):
    async def pages(client: AzureClient) -> None:
        async for _ in iterate_pages(client, f"{EP}/list", endpoint=EP, key=KEY, api_version="2024-11-30",
                                     what="res: list", max_pages=50):
            pass

    async def wait(client: AzureClient) -> None:
        await poll(client, f"{EP}/operations/1", endpoint=EP, key=KEY, what="res: wait", deadline=5.0)

    run_ops(answers, [pages, wait])
