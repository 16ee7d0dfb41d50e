"""Paging is bounded and never truncates silently (issue 19): a nextLink loop and a list that never ends are errors
naming the list and the endpoint (with prune, a truncated inventory would read as "source gone"), and so is an answer
that is not an object with a list of objects."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from drplan.azure.client import AzureClient
from drplan.azure.paging import iterate_pages
from drplan.errors import ServiceError

EP = "https://res.example.com"
LIST = f"{EP}/documentintelligence/documentModels"
KEY = "paging-test-key-5150"
WHAT = "res: list documentModels"


class Pages:
    """Answers by the ``nextLink`` query parameter (none: the first page); counts requests."""

    def __init__(self, pages: dict[str | None, httpx.Response | dict]) -> None:
        self.pages = pages
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        answer = self.pages[request.url.params.get("nextLink")]
        return answer if isinstance(answer, httpx.Response) else httpx.Response(200, json=answer)


def _list(handler, *, item_name: str = "value", api_version: str | None = "2024-11-30", **kw) -> list[dict]:
    async def go():
        async with AzureClient(transport=httpx.MockTransport(handler)) as c:
            return [item async for item in iterate_pages(c, f"{LIST}?api-version=2024-11-30", endpoint=EP, key=KEY,
                                                         api_version=api_version, what=WHAT, item_name=item_name,
                                                         **kw)]

    return asyncio.run(go())


def _link(token: str) -> str:
    return f"{LIST}?nextLink={token}&api-version=2024-11-30"


def test_pages_are_followed_to_the_end():
    pages = Pages({None: {"value": [{"id": 1}], "nextLink": _link("p2")},
                   "p2": {"value": [{"id": 2}], "nextLink": ""}})
    assert [i["id"] for i in _list(pages)] == [1, 2]


def test_a_next_link_that_loops_back_is_an_error_not_a_shorter_list():
    pages = Pages({None: {"value": [{"id": 1}], "nextLink": _link("p2")},
                   "p2": {"value": [{"id": 2}], "nextLink": _link("p3")},
                   "p3": {"value": [{"id": 3}], "nextLink": _link("p2")}})
    with pytest.raises(ServiceError) as info:
        _list(pages)
    text = str(info.value)
    assert WHAT in text and LIST in text and f"endpoint {EP}" in text
    assert "page 3's nextLink" in text and "back to page 2" in text and "loops" in text
    assert pages.calls == 3


def test_a_next_link_back_to_the_first_page_is_an_error():
    pages = Pages({None: {"value": [], "nextLink": f"{LIST}?api-version=2024-11-30"}})
    with pytest.raises(ServiceError, match="back to page 1"):
        _list(pages)


def test_a_list_that_never_ends_stops_at_max_pages():
    class Endless:
        calls = 0

        def __call__(self, request: httpx.Request) -> httpx.Response:
            self.calls += 1
            return httpx.Response(200, json={"value": [{"id": self.calls}], "nextLink": _link(f"p{self.calls}")})

    endless = Endless()
    with pytest.raises(ServiceError, match="still more pages after 25") as info:
        _list(endless, max_pages=25)
    assert endless.calls == 25 and WHAT in str(info.value)


@pytest.mark.parametrize("answer,expect", [
    (httpx.Response(200, json=[{"id": 1}]), "JSON list where drplan expects an object"),
    (httpx.Response(200, text="<html>oops</html>"), "not JSON"),
    (httpx.Response(200, json={"items": []}), "has no list 'value' (missing)"),
    (httpx.Response(200, json={"value": None}), "has no list 'value' (NoneType)"),
    (httpx.Response(200, json={"value": {"id": 1}}), "has no list 'value' (dict)"),
    (httpx.Response(200, json={"value": ["a"]}), "item 0 of 'value' is a str, not an object"),
    (httpx.Response(200, json={"value": [], "nextLink": 5}), "nextLink is not a URL string (int)"),
])
def test_an_unreadable_page_is_a_clear_error(answer, expect):
    with pytest.raises(ServiceError) as info:
        _list(Pages({None: answer}))
    assert expect in str(info.value) and WHAT in str(info.value) and LIST in str(info.value)


def test_path_versioned_lists_with_another_item_name_still_work():
    v2 = f"{EP}/formrecognizer/v2.1/custom/models"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("nextLink"):
            return httpx.Response(200, json={"modelList": [{"modelId": "b"}], "nextLink": ""})
        return httpx.Response(200, json={"summary": {}, "modelList": [{"modelId": "a"}],
                                         "nextLink": f"{v2}?nextLink=t2&op=full"})

    async def go():
        async with AzureClient(transport=httpx.MockTransport(handler)) as c:
            return [i["modelId"] async for i in iterate_pages(c, f"{v2}?op=full", endpoint=EP, key=KEY,
                                                              api_version=None, what=WHAT, item_name="modelList")]

    assert asyncio.run(go()) == ["a", "b"]
