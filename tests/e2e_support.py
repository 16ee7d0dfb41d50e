"""End-to-end support (fixtures are exported by tests/e2e/conftest.py): one real emulator process per test module
(reset between tests), spoken to over real HTTP, and the real CLI with keys in its environment only: in the test's
process by default, as a ``python -m drplan`` process where the process itself is under test (kills, crash points,
concurrent runs, signals)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from drplan.emulator.launch import start_emulator

ROOT = Path(__file__).resolve().parents[1]  # the checkout (this file is tests/e2e_support.py)
SUB = "00000000-0000-0000-0000-000000000000"
KEYS = {"src": "e2e-key-src-11aa22", "west": "e2e-key-west-33bb44", "north": "e2e-key-north-55cc66",
        "plain": "e2e-key-plain-77dd88", "frsrc": "e2e-key-frsrc-99ee00", "frdst": "e2e-key-frdst-11ff22"}
ENV = {f"KEY_{n.upper()}": k for n, k in KEYS.items()}
#: The copy time of the configs before they set copy_seconds = 0: the real-process test of each family sets it
#: (``emu.admin("PUT", "settings", SLOW_COPY)``), so its copies are polled while notStarted and running.
SLOW_COPY = {"copy_seconds": 0.3}

EMULATOR_CONFIG = f"""
seed = 3

[settings]
page_size = 3
# 0: a copy has ended when drplan first polls it, so an apply does not sit out drplan's 1 s poll interval.
# The module's real-process test puts copy_seconds back up (SLOW_COPY), so the poll loop runs there.
copy_seconds = 0
retry_after_seconds = 0
authorization_ttl_seconds = 3600

[accounts.src]
region = "eastus"
key = "{KEYS['src']}"
encryption = "customer-managed"
model_limit = 50

[[accounts.src.models]]
model_id = "invoice-2024"
description = "Invoices"
created = "2024-03-04T09:15:00Z"
tags = {{ team = "ap" }}

[[accounts.src.models]]
model_id = "receipt-2024"
created = "2024-04-11T14:02:00Z"

[[accounts.src.models]]
model_id = "po"
created = "2024-06-20T08:30:00Z"

[[accounts.src.models]]
model_id = "draft-x"
created = "2024-07-01T12:00:00Z"

[[accounts.src.classifiers]]
classifier_id = "router"
created = "2024-05-02T10:00:00Z"
doc_types = ["invoice", "receipt"]

[accounts.west]
region = "westus2"
key = "{KEYS['west']}"
encryption = "customer-managed"
model_limit = 50

[accounts.north]
region = "northeurope"
key = "{KEYS['north']}"
encryption = "customer-managed"
model_limit = 50

[accounts.plain]
region = "swedencentral"
key = "{KEYS['plain']}"
encryption = "microsoft-managed"
model_limit = 50

[accounts.frsrc]
region = "eastus2"
key = "{KEYS['frsrc']}"
model_limit = 50

[[accounts.frsrc.models]]
model_id = "form-a"
created = "2023-09-01T00:00:00Z"
api_version = "2023-07-31"

[accounts.frdst]
region = "centralus"
key = "{KEYS['frdst']}"
model_limit = 50
"""


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class Emu:
    """A test's handle on an emulator process: ``url`` is the admin API's origin (``/_emulator/...``), and each
    account is an origin of its own (``endpoint(name)``), as a real resource is a host."""

    def __init__(self, url: str, endpoints: dict[str, str] | None = None) -> None:
        self.url = url
        self.endpoints = dict(endpoints or {})
        self.http = httpx.Client(base_url=url, timeout=30)

    def endpoint(self, account: str) -> str:
        """The account's origin ``http://127.0.0.1:PORT`` (no path): what a spec's ``endpoint`` holds."""
        if account not in self.endpoints:
            accounts = self.http.get("/_emulator/accounts").json()["accounts"]
            self.endpoints.update({a["name"]: a["endpoint"] for a in accounts})
        return self.endpoints[account]

    def url_of(self, account: str, path: str) -> str:
        """``{account origin}/{path}``: a service URL of ``account`` (``path`` like ``documentintelligence/info?...``)."""
        return f"{self.endpoint(account)}/{path.lstrip('/')}"

    def reset(self) -> None:
        self.http.post("/_emulator/reset").raise_for_status()

    def admin(self, method: str, path: str, body: dict | None = None):
        r = self.http.request(method, f"/_emulator/{path}", json=body)
        r.raise_for_status()
        return r.json() if r.content else None

    def models(self, account: str, api: str = "documentintelligence", version: str = "2024-11-30") -> dict[str, dict]:
        out: dict[str, dict] = {}
        url = self.url_of(account, f"{api}/documentModels?api-version={version}")
        while url:
            r = self.http.get(url, headers={"Ocp-Apim-Subscription-Key": KEYS[account]})
            r.raise_for_status()
            body = r.json()
            out.update({m["modelId"]: m for m in body["value"] if not m["modelId"].startswith("prebuilt-")})
            url = body.get("nextLink")
            if url and "api-version" not in url:
                url += f"&api-version={version}"
        return out

    def classifiers(self, account: str) -> dict[str, dict]:
        r = self.http.get(self.url_of(account, "documentintelligence/documentClassifiers?api-version=2024-11-30"),
                          headers={"Ocp-Apim-Subscription-Key": KEYS[account]})
        r.raise_for_status()
        return {c["classifierId"]: c for c in r.json()["value"]}

    def counters(self) -> dict:
        return self.admin("GET", "counters")

    def route_count(self, account: str, route: str) -> int:
        return self.counters()["requests"].get(account, {}).get(route, 0)


def emulator_fixtures(config: str, name: str) -> tuple[Any, Any]:
    """The fixture pair of a module with its own emulator: a module-scoped emulator process started with the TOML
    ``config``, registered as the fixture ``name`` (its temp directory is named after it too), and a per-test
    :class:`Emu` on that process, reset to the config's state first, named after the module attribute it is bound
    to: ``cu_emulator, emu = emulator_fixtures(CONFIG, "cu_emulator")``."""

    @pytest.fixture(scope="module", name=name)
    def process(tmp_path_factory):
        cfg = tmp_path_factory.mktemp(name) / "emulator.toml"
        cfg.write_text(config, encoding="utf-8")
        with start_emulator(cfg) as proc:
            yield proc

    @pytest.fixture
    def client(request: pytest.FixtureRequest) -> Iterator[Emu]:
        proc = request.getfixturevalue(name)
        e = Emu(proc.url, proc.endpoints)
        e.reset()
        yield e
        e.http.close()

    return process, client


emulator_process, emu = emulator_fixtures(EMULATOR_CONFIG, "emulator_process")


def resource_block(name: str, emu: Emu, *, region: str, family: str = "document-intelligence",
                   api_version: str = "2024-11-30", encryption: str = "customer-managed") -> str:
    return textwrap.dedent(f"""
        [resources.{name}]
        family = "{family}"
        endpoint = "{emu.endpoint(name)}"
        region = "{region}"
        resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/{name}"
        api_version = "{api_version}"
        key_env = "KEY_{name.upper()}"
        encryption = "{encryption}"
        """)


@pytest.fixture
def spec_file(tmp_path, emu):
    """Write the standard e2e spec (src -> west, north; models invoice-*, receipt-*, po; classifier router)."""

    def write(rule_extra: str = "", targets: str = '["west", "north"]', extra_resources: str = "",
              models: str = '["invoice-*", "receipt-*", "po"]', classifiers: str = '["router"]') -> Path:
        text = "version = 1\n"
        text += resource_block("src", emu, region="eastus")
        text += resource_block("west", emu, region="westus2")
        text += resource_block("north", emu, region="northeurope")
        text += resource_block("plain", emu, region="swedencentral", encryption="microsoft-managed")
        text += extra_resources
        text += textwrap.dedent(f"""
            [[replicate]]
            name = "prod"
            source = "src"
            targets = {targets}
            models = {models}
            classifiers = {classifiers}
            """) + textwrap.dedent(rule_extra)
        path = tmp_path / "dr.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def cli_env(env: dict[str, str] | None = None, keys: bool = True) -> dict[str, str]:
    """The environment a CLI run sees: this process's, without any KEY_* or DRPLAN_* of the developer's shell, plus
    the e2e keys (``keys``) and ``env``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("KEY_", "DRPLAN_"))}
    if keys:
        full_env.update(ENV)
    full_env.update(env or {})
    return full_env


def run_process(args: tuple[str, ...], env: dict[str, str], cwd: Path, timeout: float = 120) -> Result:
    """``python -m drplan ARGS`` as a real process (stdin closed, as in a pipeline)."""
    env = dict(env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    p = subprocess.run([sys.executable, "-m", "drplan", *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return Result(p.returncode, p.stdout, p.stderr)


def run_in_process(args: tuple[str, ...], env: dict[str, str], cwd: Path) -> Result:
    """The same CLI (``command_line()``, the click group ``main`` runs) in this process: cwd and os.environ are exactly
    what the process would get, stdin is empty and not a terminal, stdout and stderr are captured apart, and an
    exception that would have ended the process with a traceback ends this run the same way (exit 1, the traceback on
    stderr). What a run leaves behind in this process is checked (a lock still armed for exit, a thread still running)
    or undone (the secrets it registered with the redactor, which a process would take with it). No ``timeout``:
    pytest-timeout bounds the test."""
    from click.testing import CliRunner

    from drplan import redact
    from drplan.cli.main import command_line
    from drplan.state.backends.base import ExitGuard

    saved_env, saved_cwd, saved_secrets = dict(os.environ), os.getcwd(), set(redact._secrets)
    threads, armed = set(threading.enumerate()), set(ExitGuard._armed)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(command_line(), list(args), prog_name="drplan")
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        with redact._lock:
            redact._secrets.clear()
            redact._secrets.update(saved_secrets)
    out, err, code = result.stdout, result.stderr, result.exit_code
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        err += "".join(traceback.format_exception(*result.exc_info))  # as the interpreter prints it
        code = 1
    assert ExitGuard._armed <= armed, f"drplan {' '.join(args)} left a lock armed for process exit"
    left = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    assert not left, f"drplan {' '.join(args)} left threads running: {left}"
    return Result(code, out, err)


@pytest.fixture
def drplan(tmp_path):
    """Run the real CLI in the test's directory, with the resource keys in its env: in this process by default (the
    click group of the console script, see :func:`run_in_process`), or as a real ``python -m drplan`` process with
    ``process=True``, which a run that ends the process (``DRPLAN_TEST_CRASH_AT``: ``os._exit``) always is."""

    def run(*args: str, env: dict[str, str] | None = None, keys: bool = True, timeout: float = 120,
            process: bool | None = None) -> Result:
        full_env = cli_env(env, keys)
        crash = bool(full_env.get("DRPLAN_TEST_CRASH_AT"))
        if process is False and crash:
            raise ValueError("DRPLAN_TEST_CRASH_AT ends the process (os._exit): such a run needs process=True")
        if process or crash:
            return run_process(args, full_env, tmp_path, timeout)
        return run_in_process(args, full_env, tmp_path)

    return run


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
