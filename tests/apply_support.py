"""In-process harness for the apply tests (tests/apply/; its fixture is exported by tests/apply/conftest.py): the
project's emulator as an ASGI app behind ``httpx`` (no process, no socket), the real planner
(``drplan.core.make_plan``) and the real executor, on a local state file in the test's temporary directory.

* Every emulated account is an origin of its own (``http://<account>.emulator``), as a real resource is a host.
* :class:`Transport` wraps ``httpx.ASGITransport``: it counts requests in flight (the executor's concurrency bound
  is measured there) and turns the emulator's ``drop_after`` fault (handler ran, answer lost) into what a client
  sees on a socket: the connection closed without an answer (``httpx.RemoteProtocolError``). The emulator closes a
  real connection to do that (``app._drop_connection``), which an in-process app cannot, so the harness replaces
  that one primitive.
* ``Env.on_route`` runs a test hook just before the emulator's handler for a named route (after its key check and
  fault dice): :meth:`Env.watch_journal` uses it to read the journal *on disk* at the moment each side effect
  reaches the service, which is what "journaled before the side effect" means.
* The client's sleeps advance the emulator's clock instead of waiting (a virtual clock): copies and jobs that take
  ``copy_seconds`` finish as soon as the poller has "waited" that long. (``HttpAdapter.wait_asset`` sleeps with
  ``asyncio.sleep``, not the client's sleep: a test that reaches it waits for real, so keeps ``copy_seconds`` small.)
* A crash point (``DRPLAN_TEST_CRASH_AT`` in the CLI, ``os._exit(137)``) is :class:`Killed` here: raised at the
  named point, it ends the apply, leaving the state file as a killed process would (journal written, apply record
  ``in-progress``); the lock is released by the ``with`` block as a dead holder's lock would be taken over. Unlike
  ``os._exit``, other changes already running go on until the event loop closes, so crash tests apply one change at
  a time (``Env.execute`` defaults to ``parallelism=1``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from drplan.apply.executor import ApplyResult, Executor
from drplan.azure.client import AzureClient
from drplan.core import apply_plan, make_plan, state_manager
from drplan.emulator.app import EmulatorApp
from drplan.emulator.config import parse_config
from drplan.plan.model import Plan
from drplan.spec.load import load_spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SUB = "00000000-0000-0000-0000-000000000000"
ADMIN = "http://admin.emulator"
POLL = 0.01


def origin(account: str) -> str:
    return f"http://{account}.emulator"


def arm_id(account: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/{account}"


def key_of(account: str) -> str:
    return f"apply-test-key-{account}"


class Killed(BaseException):
    """A crash point was reached (the CLI would ``os._exit(137)`` there). A BaseException, so no ``except
    Exception`` on the way out can mistake it for an error to handle."""


class Crash:
    """``Executor.crash`` for tests: raise :class:`Killed` the first time ``point`` is reached."""

    def __init__(self, point: str) -> None:
        self.point = point
        self.reached = False

    def __call__(self, point: str) -> None:
        if point == self.point and not self.reached:
            self.reached = True
            raise Killed(point)


class _Dropped(Exception):
    """Raised by the emulator (through the harness's ``_drop_connection``) instead of closing a socket."""


class Transport(httpx.AsyncBaseTransport):
    """The emulator app as an httpx transport, with in-flight counting and lost answers."""

    def __init__(self, app: EmulatorApp) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = 0

        async def drop_connection(request: Any, account: str, route: str, status: int | None, fault: str) -> None:
            await request.body()
            app._log(request, account, route, status, fault=fault)
            raise _Dropped(route)

        app._drop_connection = drop_connection  # type: ignore[method-assign]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # let other requests start: concurrency is visible only if they can overlap
            return await self.inner.handle_async_request(request)
        except _Dropped:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request) \
                from None
        finally:
            self.in_flight -= 1


RouteHook = Callable[[str, str, Any], Awaitable[None]]


class Env:
    """One test's emulator, spec, state file and the plan/apply entry points."""

    def __init__(self, tmp_path: Path, config: str, spec: str) -> None:
        self.tmp_path = tmp_path
        # The accounts are http://<account>.emulator, in process: plain http on a host that is not loopback, which a
        # spec may only name with DRPLAN_ALLOW_HTTP=1 (conftest clears DRPLAN_* before every test).
        os.environ["DRPLAN_ALLOW_HTTP"] = "1"
        cfg = parse_config(tomllib.loads(config), source="apply-test emulator")
        self.accounts = list(cfg.accounts)
        self.app = EmulatorApp(cfg, origins={origin(a): a for a in self.accounts}, admin_origins=(ADMIN,))
        self.transport = Transport(self.app)
        self.route_hooks: list[RouteHook] = []
        handle = self.app._handle

        async def handle_with_hooks(request: Any, account: str, service: Any, route: Any, headers: Any) -> Any:
            for hook in list(self.route_hooks):
                await hook(account, route.name if route else "unknown", request)
            return await handle(request, account, service, route, headers)

        self.app._handle = handle_with_hooks  # type: ignore[method-assign]
        self.spec_path = tmp_path / "dr.toml"
        self.spec_path.write_text(textwrap.dedent(spec), encoding="utf-8")
        self.state_path = tmp_path / "drplan.state.json"

    # -- the emulator ------------------------------------------------------------------------------------------------
    async def _sleep(self, seconds: float) -> None:
        """The client's sleep: the emulator's clock moves instead of the test waiting."""
        if seconds > 0:
            self.app.clock.advance(seconds)
        await asyncio.sleep(0)

    def count(self, account: str, route: str) -> int:
        return self.app.request_counts.get(account, {}).get(route, 0)

    def log(self, route: str, *, status: int | None = None) -> list[dict[str, Any]]:
        return [e for e in self.app.request_log if e["route"] == route and (status is None or e["status"] == status)]

    def faults(self, values: dict[str, Any], account: str | None = None) -> None:
        self.app.faults.update(values, account)

    async def arequest(self, account: str, method: str, path: str, **kw: Any) -> httpx.Response:
        """A service request to ``account`` with its key, outside drplan (what a user or another tool does)."""
        headers = {"Ocp-Apim-Subscription-Key": key_of(account), **kw.pop("headers", {})}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=origin(account)) as c:
            return await c.request(method, path, headers=headers, **kw)

    def request(self, account: str, method: str, path: str, **kw: Any) -> httpx.Response:
        return asyncio.run(self.arequest(account, method, path, **kw))

    def get(self, account: str, path: str, **params: str) -> httpx.Response:
        return self.request(account, "GET", path, params=params)

    async def aadmin(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=ADMIN) as c:
            r = await c.request(method, f"/_emulator/{path}", json=body)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return asyncio.run(self.aadmin(method, path, body))

    def on_route(self, route: str, hook: Callable[[str, Any], Awaitable[None]]) -> None:
        """Run ``await hook(account, request)`` before the emulator handles ``route`` (a starlette request: its
        body can be read, the handler reads it again)."""

        async def filtered(account: str, name: str, request: Any) -> None:
            if name == route:
                await hook(account, request)

        self.route_hooks.append(filtered)

    def watch_journal(self) -> list[tuple[str, dict[str, dict[str, Any]]]]:
        """From now on, record ``(route, journal on disk)`` each time the emulator handles a request."""
        seen: list[tuple[str, dict[str, dict[str, Any]]]] = []

        async def snapshot(account: str, name: str, request: Any) -> None:
            journal = self.state()["journal"] if self.state_path.exists() else {}
            seen.append((name, journal))

        self.route_hooks.append(snapshot)
        return seen

    # -- drplan ------------------------------------------------------------------------------------------------------
    def plan(self, **kw: Any) -> Plan:
        """``drplan plan`` in process: the real loader and planner (``drplan.core.make_plan``), sealed."""
        return asyncio.run(make_plan(load_spec(self.spec_path), transport=self.transport, **kw))

    def apply(self, plan: Plan, **kw: Any) -> ApplyResult:
        """``drplan apply PLAN`` in process through ``drplan.core.apply_plan`` (real sleeps, none needed when the
        emulator's operations take no time)."""
        kw.setdefault("poll_interval", POLL)
        return asyncio.run(apply_plan(plan, transport=self.transport, **kw))

    def execute(self, plan: Plan, *, crash_at: str | None = None, parallelism: int | None = 1,
                events: list[dict[str, Any]] | None = None,
                setup: Callable[[Executor], None] | None = None) -> ApplyResult:
        """Like :meth:`apply`, driving :class:`Executor` directly: a crash point raises :class:`Killed`, the
        client's sleeps move the emulator's clock, and ``events`` collects what the executor emits."""

        async def go() -> ApplyResult:
            manager = state_manager(plan.state.location)
            with manager.locked("apply"):
                async with AzureClient(transport=self.transport, tls=False, sleep=self._sleep) as client:
                    ex = Executor(plan, manager, client, parallelism=parallelism, poll_interval=POLL,
                                  emit=events.append if events is not None else None)
                    if crash_at:
                        ex.crash = Crash(crash_at)
                    if setup:
                        setup(ex)
                    return await ex.run()

        return asyncio.run(go())

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def journal_steps(self) -> dict[str, str]:
        return {a: e["step"] for a, e in self.state()["journal"].items()}


def resource_block(name: str, *, family: str, api_version: str, region: str = "eastus", extra: str = "") -> str:
    return textwrap.dedent(f"""
        [resources.{name}]
        family = "{family}"
        endpoint = "{origin(name)}"
        region = "{region}"
        resource_id = "{arm_id(name)}"
        api_version = "{api_version}"
        key_env = "KEY_{name.upper()}"
        """) + textwrap.dedent(extra)


def account_block(name: str, *, region: str = "eastus", extra: str = "") -> str:
    return textwrap.dedent(f"""
        [accounts.{name}]
        region = "{region}"
        key = "{key_of(name)}"
        resource_id = "{arm_id(name)}"
        """) + textwrap.dedent(extra)


def journal_at(seen: list[tuple[str, dict[str, dict[str, Any]]]], route: str, address: str) -> list[Any]:
    """The journal entry of ``address`` on disk each time ``route`` reached the emulator (None: no entry)."""
    return [journal.get(address) for name, journal in seen if name == route]


def fault_once(env: Env, account: str, route: str, fault: str, times: int = 1) -> None:
    """Lose the connection of the next ``times`` requests to ``route`` on ``account``, then stop. ``fault``:
    ``"drop"`` (closed before the handler: nothing happened) or ``"drop_after"`` (the handler ran, its answer is
    lost). Uses the emulator's own fault injection (the ``routes`` filter), switched off again after the drops."""
    rate = {"drop": "drop_rate", "drop_after": "drop_after_rate"}[fault]
    env.faults({rate: 1.0, "routes": [route]}, account=account)
    drop = env.app._drop_connection
    left = [times]

    async def counting(request: Any, acc: str, name: str, status: int | None, kind: str) -> None:
        if acc == account and name == route and kind == fault:
            left[0] -= 1
            if left[0] <= 0:
                env.faults({rate: 0.0, "routes": []}, account=account)
        await drop(request, acc, name, status, kind)

    env.app._drop_connection = counting  # type: ignore[method-assign]


def steps_of(events: list[dict[str, Any]], address: str) -> list[str]:
    """The progress steps one change went through, in order, without repeats in a row."""
    out: list[str] = []
    for e in events:
        if e.get("address") == address and e.get("type") == "step" and (not out or out[-1] != e["step"]):
            out.append(e["step"])
    return out


@pytest.fixture
def emulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], Env]:
    """``emulated(emulator_config_toml, spec_toml) -> Env``; each account's key is exported as ``KEY_<NAME>``."""

    def make(config: str, spec: str) -> Env:
        env = Env(tmp_path, config, spec)
        for account in env.accounts:
            monkeypatch.setenv(f"KEY_{account.upper()}", key_of(account))
        return env

    return make
