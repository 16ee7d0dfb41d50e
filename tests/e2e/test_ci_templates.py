"""The CI templates run as shipped (issue 17 point 2): the ``run:`` / ``script:`` / ``inlineScript:`` steps of
``examples/ci/github-actions.yml`` and ``examples/ci/azure-pipelines.yml`` are extracted and run in order, with bash,
against the emulator. What a hosted runner provides is faked, and only that: the checkout (a clone of a local bare
repository), artifacts (directories), ``gh`` (a script answering from the fake pull requests, runs and comments; its
``--jq`` goes through the real ``jq``), the Azure DevOps pull-request threads API (a local HTTP server), the
expressions and macros (``${{ ... }}``, ``$(...)``) and the sign-in steps (``azure/login``, ``AzureCLI@2``'s
service connection: the test's spec keeps a local state file outside the checkout, where the templates expect an
Azure blob). The install step really installs drplan (from a copy of this checkout, ``--no-deps``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from e2e_support import KEYS, ROOT, SUB

yaml = pytest.importorskip("yaml")
if shutil.which("jq") is None or shutil.which("git") is None:  # gh's --jq is jq; a hosted runner has both
    pytest.skip("the CI-template test needs git and jq on PATH", allow_module_level=True)

GH = ROOT / "examples" / "ci" / "github-actions.yml"
AZ = ROOT / "examples" / "ci" / "azure-pipelines.yml"
SECRETS = {"DI_EASTUS_KEY": KEYS["src"], "DI_WESTUS2_KEY": KEYS["west"], "DI_NORTHEUROPE_KEY": KEYS["plain"]}

FAKE_GH = r'''#!PYTHON
"""A stand-in for the GitHub CLI: answers from $GH_FAKE (JSON); --jq goes through jq -r, as gh's does."""
import json, os, shutil, subprocess, sys
path = os.environ["GH_FAKE"]
db = json.load(open(path))
args = sys.argv[1:]
def opt(name):
    return args[args.index(name) + 1] if name in args else None
def out(doc):
    jq = opt("--jq")
    if jq:
        sys.stdout.write(subprocess.run(["jq", "-r", jq], input=json.dumps(doc), text=True, check=True,
                                        capture_output=True).stdout)
    else:
        print(json.dumps(doc))
if args[:2] == ["pr", "comment"]:
    pr, body = args[2], open(opt("--body-file")).read()
    comments = db["comments"].setdefault(pr, [])
    if "--edit-last" in args:
        if not comments:
            sys.exit("no comments found for current user")
        comments[-1] = {"body": body}
    else:
        comments.append({"body": body})
elif args[0] == "api":
    parts = args[1].split("/")
    if parts[3] == "commits":
        out([{"number": int(n)} for n in db["pulls_by_commit"].get(parts[4], [])])
    elif parts[3] == "pulls":
        out({"number": int(parts[4]), "head": {"sha": db["heads"][parts[4]]}})
    elif parts[3] == "issues":
        out(db["comments"].get(parts[4], []))
    else:
        sys.exit(f"fake gh: no such api {args[1]}")
elif args[:2] == ["run", "list"]:
    out([{"databaseId": r["id"]} for r in reversed(db["runs"])
         if r["sha"] == opt("--commit") and r["event"] == opt("--event")])
elif args[:2] == ["run", "download"]:
    src = os.path.join(db["artifacts"], str(args[2]), opt("--name"))
    shutil.copytree(src, opt("--dir") or ".", dirs_exist_ok=True)
else:
    sys.exit(f"fake gh: unsupported {args}")
json.dump(db, open(path, "w"))
'''


_WHEEL: list[str] = []  # this module's build of the checkout (one per test process)


class Host:
    """What the CI services give a job: a bare repository, a tool directory (python, gh, the installed drplan),
    artifacts and the fake GitHub state."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.bare = tmp / "origin.git"
        self.work = tmp / "dev"
        self.bin = tmp / "bin"
        self.site = tmp / "site"
        self.artifacts = tmp / "artifacts"
        self.fake = tmp / "gh.json"
        for d in (self.bin, self.artifacts):
            d.mkdir()
        (self.bin / "python").symlink_to(sys.executable)
        gh = self.bin / "gh"
        gh.write_text(FAKE_GH.replace("PYTHON", sys.executable), encoding="utf-8")
        gh.chmod(0o755)
        self.fake.write_text(json.dumps({"comments": {}, "pulls_by_commit": {}, "heads": {}, "runs": [],
                                         "artifacts": str(self.artifacts)}))
        # drplan's sources as its repository holds them: the install step installs from here
        self.source = tmp / "drplan-src"
        self.source.mkdir()
        for name in ("drplan", "schemas"):
            shutil.copytree(ROOT / name, self.source / name, ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(ROOT / name, self.source / name)
        # built once per module (offline, no build isolation); each job's install step installs this wheel
        if not _WHEEL:
            wheels = tmp.parent / "drplan-wheels"
            subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                            str(wheels), str(self.source)], check=True, capture_output=True, cwd=tmp)
            _WHEEL.append(str(next(wheels.glob("drplan-*.whl"))))
        self.wheel = _WHEEL[0]
        self.git("init", "-q", "--bare", "-b", "main", str(self.bare), cwd=tmp)
        self.git("clone", "-q", str(self.bare), str(self.work), cwd=tmp)

    def git(self, *args: str, cwd: Path | None = None) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
        return subprocess.run(["git", *args], cwd=cwd or self.work, env=env, check=True, capture_output=True,
                              text=True).stdout.strip()

    def commit(self, spec: str, message: str, branch: str) -> str:
        (self.work / "dr").mkdir(exist_ok=True)
        (self.work / "dr" / "dr.toml").write_text(spec, encoding="utf-8")
        self.git("add", "dr/dr.toml")
        self.git("commit", "-q", "-m", message)
        self.git("push", "-q", "origin", f"HEAD:{branch}")
        return self.git("rev-parse", "HEAD")

    def db(self) -> dict:
        return json.loads(self.fake.read_text())

    def update(self, **changes: object) -> None:
        doc = self.db()
        for key, value in changes.items():
            if isinstance(doc[key], dict):
                doc[key].update(value)  # type: ignore[arg-type]
            else:
                doc[key] += value  # type: ignore[operator]
        self.fake.write_text(json.dumps(doc))

    def checkout(self, sha: str, into: Path) -> None:
        self.git("clone", "-q", str(self.bare), str(into), cwd=self.tmp)
        self.git("checkout", "-q", sha, cwd=into)

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KEY_", "DRPLAN_", "DI_", "PIP_"))}
        env.update(PATH=f"{self.site / 'bin'}{os.pathsep}{self.bin}{os.pathsep}{env['PATH']}",
                   PYTHONPATH=str(self.site), GH_FAKE=str(self.fake),
                   # the install step, offline: into the job's site directory, dependencies already present
                   PIP_TARGET=str(self.site), PIP_NO_DEPS="1", PIP_NO_BUILD_ISOLATION="0",
                   PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_UPGRADE="1", PIP_NO_INPUT="1")
        env.update(extra)
        return env


def spec_text(emu, state: Path, targets: str) -> str:
    def block(name: str, region: str, key_env: str, encryption: str = "customer-managed") -> str:
        return textwrap.dedent(f"""
            [resources.{name}]
            family = "document-intelligence"
            endpoint = "{emu.endpoint(name)}"
            region = "{region}"
            resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/{name}"
            api_version = "2024-11-30"
            key_env = "{key_env}"
            encryption = "{encryption}"
            """)
    return (f'version = 1\n[state]\nbackend = "local"\npath = "{state}"\n'
            + block("src", "eastus", "DI_EASTUS_KEY") + block("west", "westus2", "DI_WESTUS2_KEY")
            + block("plain", "swedencentral", "DI_NORTHEUROPE_KEY", "microsoft-managed")
            + f'\n[[replicate]]\nname = "prod"\nsource = "src"\ntargets = {targets}\nmodels = ["invoice-*", "po"]\n')


def run_script(script: str, cwd: Path, env: dict[str, str], shell: tuple[str, ...]) -> subprocess.CompletedProcess:
    return subprocess.run([*shell, "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


# -- GitHub Actions ------------------------------------------------------------------------------------------------
def run_gh_job(host: Host, job: str, ctx: dict[str, str], tmp: Path) -> tuple[bool, list[str]]:
    """Run one job of the workflow: its steps in order, ``if: always()`` after a failure. Returns (succeeded, the
    names of the steps that ran)."""
    wf = yaml.safe_load(GH.read_text(encoding="utf-8"))
    ws = tmp / f"ws-{job}-{ctx['github.run_id']}"
    outputs_file = tmp / f"out-{job}-{ctx['github.run_id']}"
    outputs: dict[str, str] = {}

    def expr(text: str) -> str:
        def one(m: re.Match) -> str:
            key = m.group(1).strip()
            if key.startswith("secrets."):
                return SECRETS[key.split(".", 1)[1]]
            if key.startswith("vars."):
                return "00000000-fake"
            if key.startswith("steps."):
                return outputs.get(key, "")
            return ctx[key]
        return re.sub(r"\$\{\{(.*?)\}\}", one, text)

    env = host.env({k: expr(str(v)) for k, v in wf["env"].items()})
    env["DRPLAN_INSTALL"] = host.wheel  # a CI variable pointing at this checkout instead of the published tag
    env.update(GITHUB_OUTPUT=str(outputs_file), GITHUB_REPOSITORY=ctx["github.repository"],
               GITHUB_SHA=ctx["github.sha"], GITHUB_EVENT_NAME=ctx["github.event_name"])
    failed, ran = False, []
    for step in wf["jobs"][job]["steps"]:
        if failed and "always()" not in str(step.get("if", "")):
            continue
        name = step.get("name") or step.get("uses") or step["run"].split("\n")[0]
        ran.append(name)
        uses = step.get("uses", "")
        with_ = {k: expr(str(v)) for k, v in (step.get("with") or {}).items()}
        if uses.startswith("actions/checkout"):
            host.checkout(ctx["github.sha"], ws)
        elif uses.startswith("actions/upload-artifact"):
            dest = host.artifacts / ctx["github.run_id"] / with_["name"]
            dest.mkdir(parents=True)
            for line in with_["path"].split():
                if (ws / line).exists():
                    shutil.copy(ws / line, dest / line)
        elif uses.startswith(("actions/setup-python", "azure/login")):
            pass  # the runner's Python; the OIDC sign-in (the test's state is a local file)
        else:
            assert "run" in step, step
            step_env = {**env, **{k: expr(str(v)) for k, v in (step.get("env") or {}).items()}}
            outputs_file.write_text("")
            r = run_script(expr(step["run"]), ws, step_env, ("bash", "--noprofile", "--norc", "-eo", "pipefail"))
            if step.get("id"):
                for line in outputs_file.read_text().splitlines():
                    k, _, v = line.partition("=")
                    outputs[f"steps.{step['id']}.outputs.{k}"] = v
            if r.returncode != 0:
                failed = True
                ran[-1] += f" [exit {r.returncode}: {r.stdout[-2000:]} {r.stderr[-2000:]}]"
    return not failed, ran


def test_github_actions_template_runs_as_shipped(emu, tmp_path):
    host = Host(tmp_path)
    state = tmp_path / "shared-state" / "drplan.state.json"  # shared by the jobs, as the blob would be
    state.parent.mkdir()
    base = host.commit(spec_text(emu, state, '["west"]').replace('"invoice-*", "po"', '"po"'), "dr spec", "main")
    ctx = {"github.repository": "contoso/dr-config", "github.token": "fake-token"}

    # a pull request adds the invoice models: plan, comment, artifact
    host.git("checkout", "-q", "-b", "add-invoices")
    head = host.commit(spec_text(emu, state, '["west"]'), "add invoices", "add-invoices")
    pr = {**ctx, "github.event_name": "pull_request", "github.sha": head, "github.run_id": "101",
          "github.event.pull_request.head.sha": head, "github.event.pull_request.number": "7"}
    ok, ran = run_gh_job(host, "plan", pr, tmp_path)
    assert ok, ran
    host.update(runs=[{"id": 101, "sha": head, "event": "pull_request"}], heads={"7": head})
    comment = host.db()["comments"]["7"][-1]["body"]
    plan = json.loads((host.artifacts / "101" / f"drplan-plan-{head}" / "plan.json").read_text())
    assert comment.startswith("### drplan plan: **2** to create") and plan["digest"] in comment
    assert f"drplan apply plan.json --digest {plan['digest']}" in comment
    assert (host.artifacts / "101" / f"drplan-plan-{head}" / "plan.commit").read_text().strip() == head

    # the merge: apply exactly the approved artifact
    host.git("checkout", "-q", "main")
    host.git("merge", "-q", "--no-ff", "-m", "Merge pull request #7", "add-invoices")
    host.git("push", "-q", "origin", "main")
    merge = host.git("rev-parse", "HEAD")
    host.update(pulls_by_commit={merge: [7]})
    push = {**ctx, "github.event_name": "push", "github.sha": merge, "github.run_id": "102"}
    ok, ran = run_gh_job(host, "apply", push, tmp_path)
    assert ok, ran
    assert set(emu.models("west")) == {"invoice-2024", "po"}
    assert base != merge

    # a second pull request whose plan has errors: the comment shows them, the job fails
    host.git("checkout", "-q", "-b", "downgrade")
    bad = host.commit(spec_text(emu, state, '["west", "plain"]'), "copy to plain", "downgrade")
    pr8 = {**pr, "github.sha": bad, "github.run_id": "103", "github.event.pull_request.head.sha": bad,
           "github.event.pull_request.number": "8"}
    ok, ran = run_gh_job(host, "plan", pr8, tmp_path)
    assert not ok and "exited 1" in ran[-1], ran
    comment = host.db()["comments"]["8"][-1]["body"]
    assert "**Not applyable:**" in comment and "Encryption downgrade refused" in comment
    assert any(name.startswith("Comment the plan") for name in ran)

    # an apply whose approved comment shows another digest is refused, nothing is copied
    host.update(runs=[{"id": 103, "sha": bad, "event": "pull_request"}], heads={"8": bad})
    db = host.db()
    db["comments"]["8"] = [{"body": "### drplan plan: edited\nPlan digest `sha256:" + "0" * 64 + "`"}]
    host.fake.write_text(json.dumps(db))
    host.git("checkout", "-q", "main")
    host.git("merge", "-q", "--no-ff", "-m", "Merge pull request #8", "downgrade")
    host.git("push", "-q", "origin", "main")
    merge8 = host.git("rev-parse", "HEAD")
    host.update(pulls_by_commit={merge8: [8]})
    ok, ran = run_gh_job(host, "apply", {**push, "github.sha": merge8, "github.run_id": "104"}, tmp_path)
    assert not ok and "not the approved" in ran[-1], ran
    assert emu.models("plain") == {}

    ok, ran = run_gh_job(host, "drift", {**ctx, "github.event_name": "schedule", "github.sha": merge,
                                         "github.run_id": "105"}, tmp_path)
    assert ok, ran  # main at the first merge: every copy in sync


# -- Azure Pipelines -----------------------------------------------------------------------------------------------
class Threads(BaseHTTPRequestHandler):
    posted: list[tuple[str, dict, str]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Threads.posted.append((self.path, body, self.headers.get("Authorization", "")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def run_az_build(host: Host, variables: dict[str, str], tmp: Path) -> dict[str, object]:
    """One pipeline run: the plan stage, then the apply stage if its condition holds. Returns what it left."""
    doc = yaml.safe_load(AZ.read_text(encoding="utf-8"))
    values = {**SECRETS, **{v["name"]: v["value"] for v in doc["variables"] if "name" in v}, **variables}
    values["DRPLAN_INSTALL"] = host.wheel  # a pipeline variable pointing at this checkout's build
    run = tmp / f"run-{variables['Build.BuildId']}"
    staging, workspace = run / "staging", run / "pipeline"
    staging.mkdir(parents=True)
    workspace.mkdir()
    values.update({"Build.ArtifactStagingDirectory": str(staging), "Pipeline.Workspace": str(workspace)})
    outputs: dict[str, str] = {}
    summaries: list[str] = []

    def macro(text: str) -> str:  # $(name) for known names only, as Azure does: $(cat x) is left to bash
        return re.sub(r"\$\(([A-Za-z_][\w.]*)\)", lambda m: {**values, **outputs}.get(m.group(1), m.group(0)), text)

    def steps(stage: dict) -> list[dict]:
        job = stage["jobs"][0]
        return job["steps"] if "steps" in job else job["strategy"]["runOnce"]["deploy"]["steps"]

    result: dict[str, object] = {"stages": []}
    for stage in doc["stages"]:
        cond = stage.get("condition", "")
        if "refs/heads/main" in cond and values["Build.SourceBranch"] != "refs/heads/main":
            continue
        for name, ref in (stage.get("variables") or {}).items():
            m = re.search(r"outputs\['(\w+)\.(\w+)'\]", ref)
            values[name] = outputs.get(f"{m.group(1)}.{m.group(2)}", "")
        ws = run / f"ws-{stage['stage']}"
        failed = False
        for step in steps(stage):
            condition = str(step.get("condition", ""))
            if failed and "always()" not in condition:
                continue
            if "eq(variables['Build.Reason'], 'PullRequest')" in condition and values["Build.Reason"] != "PullRequest":
                continue
            if step.get("checkout") == "self" or (not ws.exists() and ("script" in step or "task" in step)):
                if not ws.exists():
                    host.checkout(values["Build.SourceVersion"], ws)
                if step.get("checkout"):
                    continue
            if "publish" in step:
                shutil.copytree(macro(step["publish"]), run / "artifacts" / step["artifact"])
                continue
            if "download" in step:
                shutil.copytree(run / "artifacts" / step["artifact"], workspace / step["artifact"])
                continue
            task = step.get("task", "")
            if task.startswith("UsePythonVersion"):
                continue
            script = step["inputs"]["inlineScript"] if task.startswith("AzureCLI") else step["script"]
            env = host.env({k: macro(str(v)) for k, v in (step.get("env") or {}).items()})
            r = run_script(macro(script), ws, env, ("bash", "--noprofile", "--norc"))
            for m in re.finditer(r"##vso\[task\.setvariable variable=(\w+);isOutput=true\](.*)", r.stdout):
                outputs[f"{step['name']}.{m.group(1)}"] = m.group(2).strip()
            summaries += re.findall(r"##vso\[task\.uploadsummary\](.*)", r.stdout)
            if r.returncode != 0:
                failed = True
                result.setdefault("failures", []).append(f"{step.get('displayName')}: {r.stdout[-1500:]} "  # type: ignore[union-attr]
                                                         f"{r.stderr[-1500:]}")
        result["stages"].append((stage["stage"], not failed))  # type: ignore[union-attr]
        if failed:
            break
    result.update(outputs=outputs, summaries=[Path(s.strip()).read_text() for s in summaries])
    return result


def test_azure_pipelines_template_runs_as_shipped(emu, tmp_path):
    host = Host(tmp_path)
    state = tmp_path / "shared-state" / "drplan.state.json"
    state.parent.mkdir()
    host.commit(spec_text(emu, state, '["west"]').replace('"invoice-*", "po"', '"po"'), "dr spec", "main")
    server = HTTPServer(("127.0.0.1", 0), Threads)
    Threads.posted = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    common = {"System.AccessToken": "fake-build-token", "System.CollectionUri": f"http://127.0.0.1:{server.server_port}/org/",
              "System.TeamProject": "dr", "Build.Repository.ID": "repo-1"}
    try:
        # a pull request whose plan has errors: the comment still goes out, with them; no apply stage
        host.git("checkout", "-q", "-b", "pr")
        bad = host.commit(spec_text(emu, state, '["west", "plain"]'), "copy to plain", "pr")
        r = run_az_build(host, {**common, "Build.BuildId": "1", "Build.SourceVersion": bad,
                                "Build.SourceBranch": "refs/pull/5/merge", "Build.Reason": "PullRequest",
                                "System.PullRequest.PullRequestId": "5"}, tmp_path)
        assert r["stages"] == [("plan", False)] and "exited 1" in r["failures"][0]
        path, thread, auth = Threads.posted[-1]
        assert path == "/org/dr/_apis/git/repositories/repo-1/pullRequests/5/threads?api-version=7.1"
        assert "Encryption downgrade refused" in thread["comments"][0]["content"] and auth == "Bearer fake-build-token"
        assert "Encryption downgrade refused" in r["summaries"][0]

        # the fixed pull request merged: plan the merged commit, apply exactly that artifact (commit and digest)
        host.commit(spec_text(emu, state, '["west"]'), "only west", "pr")
        host.git("checkout", "-q", "main")
        host.git("merge", "-q", "--no-ff", "-m", "Merge PR 5", "pr")
        host.git("push", "-q", "origin", "main")
        merge = host.git("rev-parse", "HEAD")
        r = run_az_build(host, {**common, "Build.BuildId": "2", "Build.SourceVersion": merge,
                                "Build.SourceBranch": "refs/heads/main", "Build.Reason": "IndividualCI"}, tmp_path)
        assert r["stages"] == [("plan", True), ("apply", True)], r.get("failures")
        assert r["outputs"]["plan.code"] == "2" and r["outputs"]["plan.digest"].startswith("sha256:")
        assert set(emu.models("west")) == {"invoice-2024", "po"} and emu.models("plain") == {}
        assert len(Threads.posted) == 1  # no comment outside pull requests
    finally:
        server.shutdown()
