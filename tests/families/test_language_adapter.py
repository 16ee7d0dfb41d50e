"""The Language authoring adapter with respx (contracts §6): paging, export job polling and the resultUrl download,
import/train/deploy requests, finding an interrupted training, deletion jobs, and error mapping."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import respx

from drplan.azure.client import AzureClient
from drplan.errors import AuthError, OperationFailedError, ServiceError
from drplan.families.base import Connection
from drplan.families.language.adapter import ProjectsAdapter, job_errors
from drplan.redact import register_secret
from drplan.spec.model import AssetKind

EP = "https://lang.example"
BASE = f"{EP}/language/authoring/analyze-text"
KEY = "language-test-key-4471"
V = "api-version=2023-04-01"
KIND = AssetKind.LANGUAGE_PROJECT


def run(coro):
    return asyncio.run(coro)


async def _with(fn):
    async with AzureClient(max_attempts=2, backoff=0.0) as client:
        conn = Connection(name="west", family="language", endpoint=EP, api_version="2023-04-01", region="westus",
                          resource_id="/subscriptions/x/accounts/west", key=KEY)
        return await fn(ProjectsAdapter(client, conn))


def meta(name: str, modified: str = "2025-01-02T00:00:00Z", **extra) -> dict:
    return {"projectName": name, "projectKind": "CustomEntityRecognition", "language": "en", "multilingual": False,
            "storageInputContainerName": f"{name}-docs", "createdDateTime": "2025-01-01T00:00:00Z",
            "lastModifiedDateTime": modified, **extra}


def job(status: str, **extra) -> dict:
    return {"jobId": "j1_638000000000000000", "createdDateTime": "2025-01-01T00:00:00Z",
            "lastUpdatedDateTime": "2025-01-01T00:00:00Z", "status": status, **extra}


@respx.mock
def test_inventory_follows_next_links_and_fingerprints_by_last_modified():
    # the next link lacks api-version (contracts §1): the adapter adds it back
    second = respx.get(f"{BASE}/projects", params={"skip": "1", "api-version": "2023-04-01"}).mock(
        return_value=httpx.Response(200, json={"value": [meta("b", lastTrainedDateTime="2025-02-01T00:00:00Z")],
                                               "nextLink": None}))
    first = respx.get(f"{BASE}/projects", params={"api-version": "2023-04-01"}).mock(
        return_value=httpx.Response(200, json={"value": [meta("a")], "nextLink": f"{BASE}/projects?skip=1"}))
    inv = run(_with(lambda a: a.inventory(frozenset({KIND}))))
    assert first.called and second.called
    assert second.calls[0].request.headers["Ocp-Apim-Subscription-Key"] == KEY
    assert sorted(i for _, i in inv.assets) == ["a", "b"]
    b = inv.get(KIND, "b")
    assert b.fingerprint == "modified=2025-01-02T00:00:00.000Z" and b.created == "2025-01-01T00:00:00.000Z"
    assert b.detail["metadata"]["storageInputContainerName"] == "b-docs"
    assert b.detail["trained"] == "2025-02-01T00:00:00.000Z" and b.detail["deployed"] == ""


@respx.mock
def test_export_polls_the_job_then_downloads_the_result_with_the_key():
    exported = {"projectFileVersion": "2023-04-01", "stringIndexType": "Utf16CodeUnit", "metadata": meta("a"),
                "assets": {"projectKind": "CustomEntityRecognition", "entities": [], "documents": []}}
    job_url = f"{BASE}/projects/a/export/jobs/j1?{V}"
    post = respx.post(f"{BASE}/projects/a/:export").mock(
        return_value=httpx.Response(202, headers={"operation-location": job_url}))
    respx.get(f"{BASE}/projects/a/export/jobs/j1").mock(side_effect=[
        httpx.Response(200, json=job("notStarted")), httpx.Response(200, json=job("running")),
        httpx.Response(200, json=job("succeeded", resultUrl=f"{BASE}/projects/a/export/jobs/j1/result?{V}"))])
    result = respx.get(f"{BASE}/projects/a/export/jobs/j1/result").mock(
        return_value=httpx.Response(200, json=exported))
    assert run(_with(lambda a: a.export("a", interval=0.01))) == exported
    assert post.calls[0].request.url.params["stringIndexType"] == "Utf16CodeUnit"
    assert result.calls[0].request.headers["Ocp-Apim-Subscription-Key"] == KEY


@respx.mock
def test_failed_export_names_the_job_and_its_errors():
    respx.post(f"{BASE}/projects/a/:export").mock(
        return_value=httpx.Response(202, headers={"operation-location": f"{BASE}/projects/a/export/jobs/j1?{V}"}))
    respx.get(f"{BASE}/projects/a/export/jobs/j1").mock(return_value=httpx.Response(200, json=job(
        "failed", errors=[{"code": "InvalidRequest", "message": "Bad project.",
                           "innererror": {"code": "InvalidDocument", "message": "doc1.txt has no location"}}])))
    with pytest.raises(OperationFailedError) as err:
        run(_with(lambda a: a.export("a", interval=0.01)))
    text = str(err.value)
    assert "west: the export job j1_638000000000000000 ended failed" in text
    assert "InvalidRequest/InvalidDocument: Bad project. (doc1.txt has no location)" in text
    assert err.value.code == "InvalidRequest" and err.value.inner_code == "InvalidDocument"


@respx.mock
def test_a_result_url_on_another_host_never_gets_the_key():
    respx.post(f"{BASE}/projects/a/:export").mock(
        return_value=httpx.Response(202, headers={"operation-location": f"{BASE}/projects/a/export/jobs/j1?{V}"}))
    respx.get(f"{BASE}/projects/a/export/jobs/j1").mock(
        return_value=httpx.Response(200, json=job("succeeded", resultUrl="https://evil.example/result")))
    evil = respx.get("https://evil.example/result").mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(ServiceError, match="refusing to send the key there"):
        run(_with(lambda a: a.export("a", interval=0.01)))
    assert not evil.called


@respx.mock
def test_import_train_and_deploy_requests():
    imp = respx.post(f"{BASE}/projects/a-dr/:import").mock(
        return_value=httpx.Response(202, headers={"operation-location": f"{BASE}/projects/a-dr/import/jobs/i1?{V}"}))
    train = respx.post(f"{BASE}/projects/a-dr/:train").mock(
        return_value=httpx.Response(202, headers={"operation-location": f"{BASE}/projects/a-dr/train/jobs/t1?{V}"}))
    deploy = respx.put(f"{BASE}/projects/a-dr/deployments/prod").mock(return_value=httpx.Response(
        202, headers={"operation-location": f"{BASE}/projects/a-dr/deployments/prod/jobs/d1?{V}"}))

    async def go(a: ProjectsAdapter):
        exported = {"projectFileVersion": "2023-04-01", "stringIndexType": "Utf16CodeUnit", "metadata": meta("a")}
        return (await a.start_import("a-dr", exported), await a.start_train("a-dr", "dr", "2022-05-01"),
                await a.start_deploy("a-dr", "prod", "dr"))

    (iu, _), (tu, _), (du, _) = run(_with(go))
    assert iu.endswith(f"/import/jobs/i1?{V}") and tu.endswith(f"/train/jobs/t1?{V}") and "jobs/d1" in du
    assert json.loads(imp.calls[0].request.content)["metadata"]["projectName"] == "a-dr"  # the renamed copy
    assert json.loads(train.calls[0].request.content) == {"modelLabel": "dr", "trainingConfigVersion": "2022-05-01"}
    assert json.loads(deploy.calls[0].request.content) == {"trainedModelLabel": "dr"}


@respx.mock
def test_find_train_job_picks_the_newest_unfinished_job_of_the_label():
    jobs = [job("succeeded", jobId="old", result={"modelLabel": "dr"}),
            job("running", jobId="other", result={"modelLabel": "experiment"}),
            job("running", jobId="ours", result={"modelLabel": "dr"})]
    respx.get(f"{BASE}/projects/a/train/jobs").mock(return_value=httpx.Response(200, json={"value": jobs}))
    url = run(_with(lambda a: a.find_train_job("a", "dr")))
    assert url == f"{BASE}/projects/a/train/jobs/ours?{V}"


@respx.mock
def test_models_deployments_and_missing_ones():
    respx.get(f"{BASE}/projects/a/models/dr").mock(return_value=httpx.Response(200, json={
        "label": "dr", "modelId": "dr-2025", "lastTrainedDateTime": "2025-02-01T00:00:00Z",
        "modelTrainingConfigVersion": "2022-05-01"}))
    respx.get(f"{BASE}/projects/a/deployments/prod").mock(return_value=httpx.Response(
        404, json={"error": {"code": "NotFound", "message": "The specified deployment was not found."}}))
    respx.get(f"{BASE}/projects/gone").mock(return_value=httpx.Response(404, json={"error": {
        "code": "ProjectNotFound", "message": "The specified project was not found.",
        "details": [{"code": "ProjectNotFound", "message": "gone"}]}}))

    async def go(a: ProjectsAdapter):
        return await a.get_model("a", "dr"), await a.get_deployment("a", "prod"), await a.get(KIND, "gone")

    model, dep, gone = run(_with(go))
    assert model == {"label": "dr", "modelId": "dr-2025", "trained": "2025-02-01T00:00:00.000Z",
                     "training_config_version": "2022-05-01"}
    assert dep is None and gone is None


@respx.mock
def test_delete_waits_for_the_deletion_job_and_a_missing_project_is_fine():
    respx.delete(f"{BASE}/projects/a").mock(return_value=httpx.Response(
        202, headers={"operation-location": f"{BASE}/projects/global/deletion-jobs/x1?{V}"}))
    deletion = respx.get(f"{BASE}/projects/global/deletion-jobs/x1").mock(
        return_value=httpx.Response(200, json=job("succeeded")))
    respx.delete(f"{BASE}/projects/b").mock(return_value=httpx.Response(404, json={"error": {
        "code": "ProjectNotFound", "message": "The specified project was not found."}}))

    async def go(a: ProjectsAdapter):
        return await a.delete(KIND, "a", interval=0.01), await a.delete(KIND, "b")

    assert run(_with(go)) == (True, False)
    assert deletion.called


@respx.mock
def test_errors_are_mapped_and_never_show_the_key():
    register_secret(KEY)  # as drplan.azure.auth does when it reads the key from the environment
    respx.get(f"{BASE}/projects").mock(return_value=httpx.Response(401, json={"error": {
        "code": "Unauthorized", "message": f"bad key {KEY}"}}))
    with pytest.raises(AuthError) as err:
        run(_with(lambda a: a.inventory(frozenset({KIND}))))
    assert "west: list projects: HTTP 401 Unauthorized" in str(err.value) and KEY not in str(err.value)
    respx.post(f"{BASE}/projects/a/:export").mock(return_value=httpx.Response(202))
    with pytest.raises(ServiceError, match="no operation-location header"):
        run(_with(lambda a: a.start_export("a")))


def test_job_errors_without_details():
    assert job_errors({"status": "failed"}) == "no error details"
