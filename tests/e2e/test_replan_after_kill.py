"""Kill an apply at every crash point of every family, then plan AGAIN (what a pipeline re-run does: ``apply SPEC
--auto-approve``, or plan + apply of the new plan; not a re-apply of the old plan) and apply that: it converges with no
duplicate copy and no orphan, the plan says what it does about the journal (record, finish, or copy again), and
``check`` reports the unfinished apply until then (issue 19).

The kills are simulated in this process, one round per crash point index: every change of one plan over all six
kinds (DI models and classifiers, FR v3, FR v2.1, Content Understanding, Language) is stopped at its family's point of
that round, all in one apply: the crash point raises (the change fails there) where a real kill ends the process, so
nothing after it runs and the journal and the services are left as a kill leaves them. What a real kill adds (the
lock of a dead process) is covered with real processes in tests/e2e/test_crash_resume.py and by the real kill below."""

from __future__ import annotations

import sys

import pytest
from e2e_support import SUB, Emu, cli_env, emulator_fixtures, read_json, run_in_process, run_process

from drplan.apply import context as apply_context
from drplan.errors import ApplyStepError

KEYS = {"disrc": "rk-key-disrc-1a2b", "didst": "rk-key-didst-3c4d", "frsrc": "rk-key-frsrc-5e6f",
        "frdst": "rk-key-frdst-7a8b", "v2src": "rk-key-v2src-9c0d", "v2dst": "rk-key-v2dst-1e2f",
        "cusrc": "rk-key-cusrc-3a4b", "cudst": "rk-key-cudst-5c6d", "lsrc": "rk-key-lsrc-7e8f",
        "ldst": "rk-key-ldst-9a0b"}
ENV = {f"KEY_{n.upper()}": k for n, k in KEYS.items()}
ARM = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts"


def _account(name: str, region: str, extra: str = "") -> str:
    return (f'[accounts.{name}]\nregion = "{region}"\nkey = "{KEYS[name]}"\nresource_id = "{ARM}/{name}"\n'
            f'model_limit = 50\n{extra}\n')


CU_DEPLOYMENTS = ('deployments = { "gpt41" = "gpt-4.1", "te3l" = "text-embedding-3-large" }\n'
                  'model_deployments = { "gpt-4.1" = "gpt41", "text-embedding-3-large" = "te3l" }\n')
CONFIG = "seed = 19\n[settings]\ncopy_seconds = 0\nretry_after_seconds = 0\nauthorization_ttl_seconds = 3600\n" \
    "page_size = 10\n" + _account("disrc", "eastus", """
[[accounts.disrc.models]]
model_id = "invoice"
created = "2024-03-04T09:15:00Z"
[[accounts.disrc.models]]
model_id = "receipt"
created = "2024-04-11T14:02:00Z"
[[accounts.disrc.classifiers]]
classifier_id = "router"
created = "2024-05-02T10:00:00Z"
doc_types = ["invoice", "receipt"]
""") + _account("didst", "westus2") + _account("frsrc", "eastus2", """
[[accounts.frsrc.models]]
model_id = "form-a"
created = "2023-09-01T00:00:00Z"
api_version = "2023-07-31"
""") + _account("frdst", "centralus") + _account("v2src", "eastus", """
[[accounts.v2src.v2_models]]
model_id = "11111111-1111-4111-8111-111111111111"
model_name = "invoices-v2"
created = "2021-01-01T00:00:00Z"
last_updated = "2021-01-02T00:00:00Z"
""") + _account("v2dst", "westus2") + _account("cusrc", "eastus", CU_DEPLOYMENTS + """
[[accounts.cusrc.analyzers]]
analyzer_id = "invoice"
base_analyzer_id = "prebuilt-document"
models = { completion = "gpt-4.1", embedding = "text-embedding-3-large" }
field_schema = { name = "invoice", fields = { total = { type = "number" } } }
""") + _account("cudst", "westus2", CU_DEPLOYMENTS) + _account("lsrc", "eastus", """
[[accounts.lsrc.language_projects]]
project_name = "contracts"
storage_input_container = "contracts-docs"
created = "2025-01-01T00:00:00Z"
last_modified = "2025-01-02T00:00:00Z"
entities = ["Party"]
documents = [ { location = "doc1.txt", labels = [{ category = "Party", offset = 0, length = 5 }] } ]
""") + _account("ldst", "westus2")

replan_emulator, remu = emulator_fixtures(CONFIG, "replan_emulator")

FAMILIES = {  # rule name -> (resource family, api-version, source, target, selector)
    "di": ("document-intelligence", "2024-11-30", "disrc", "didst", 'models = ["invoice"]'),
    "dicls": ("document-intelligence", "2024-11-30", "disrc", "didst", 'models = []\nclassifiers = ["router"]'),
    "fr3": ("form-recognizer", "2023-07-31", "frsrc", "frdst", 'models = ["form-a"]'),
    "fr2": ("form-recognizer", "2.1", "v2src", "v2dst", 'models = ["invoices-v2"]'),
    "cu": ("content-understanding", "2025-11-01", "cusrc", "cudst", 'analyzers = ["invoice"]'),
    "ner": ("language", "2023-04-01", "lsrc", "ldst", 'projects = ["contracts"]\n[replicate.train]\n'
            'model_label = "dr"\ntraining_config_version = "2022-05-01"\ndeployment = "prod"'),
}
COPY_POINTS = ["after-journal-authorizing", "after-authorize", "after-journal-copy-requested", "after-copy-sent",
               "after-journal-copying", "after-copy-done"]
POINTS = {
    "di": COPY_POINTS, "dicls": COPY_POINTS, "fr3": COPY_POINTS,
    "fr2": [p for p in COPY_POINTS if p != "after-journal-copy-requested"],  # the minted id is journaled at once
    "cu": ["after-journal-granting", *COPY_POINTS[1:]],
    "ner": ["after-journal-exporting", "after-export-sent", "after-export-done", "after-import-sent",
            "after-import-journaled", "after-import-done", "after-train-sent", "after-train-journaled",
            "after-train-done", "after-deploy-sent", "after-deploy-journaled"],
}


#: Accepted copy requests per rule: (account, route, accepted status). Exactly one per change: no duplicate copy.
COPIES = {"di": ("disrc", "documentModels:copyTo", 202), "dicls": ("disrc", "documentClassifiers:copyTo", 202),
          "fr3": ("frsrc", "documentModels:copyTo", 202), "fr2": ("v2src", "v2:copy", 202),
          "cu": ("cudst", "cu:copy", 201), "ner": ("ldst", "language:train", 202)}
#: DI v4 / FR v3: a kill between authorizeCopy and copyTo loses the token; the id stays reserved until it expires
#: (contracts §2.4), which the apply explains; the next apply after the expiry converges.
RESERVED = {(r, p) for r in ("di", "dicls", "fr3") for p in ("after-authorize", "after-journal-copy-requested")}


def write_spec(tmp_path, emu: Emu, rules: tuple[str, ...] = tuple(FAMILIES)) -> None:
    text = "version = 1\n[defaults]\nparallelism = 10\n"
    for rule in rules:
        family, api, src, dst, _ = FAMILIES[rule]
        for name, region in ((src, "eastus"), (dst, "westus2")):
            if f"[resources.{name}]" in text:
                continue
            text += (f'[resources.{name}]\nfamily = "{family}"\nendpoint = "{emu.endpoint(name)}"\n'
                     f'region = "{region}"\nresource_id = "{ARM}/{name}"\napi_version = "{api}"\n'
                     f'key_env = "KEY_{name.upper()}"\n')
    for rule in rules:
        _, _, src, dst, selector = FAMILIES[rule]
        text += f'[[replicate]]\nname = "{rule}"\nsource = "{src}"\ntargets = ["{dst}"]\n{selector}\n'
    (tmp_path / "dr.toml").write_text(text, encoding="utf-8")


class Killed(ApplyStepError):
    """A change stopped at a crash point, as a kill stops it: nothing after the point runs."""


#: Each family's apply module and its crash points (drplan/apply/context.py CrashPoints; each module lists its own).
MODULE_POINTS = {
    "drplan.families.document_intelligence.apply": POINTS["di"],  # DI models, classifiers and FR v3
    "drplan.families.form_recognizer_v2.apply": POINTS["fr2"],
    "drplan.families.content_understanding.apply": POINTS["cu"],
    "drplan.families.language.apply": POINTS["ner"],
}
ROUNDS = max(len(p) for p in MODULE_POINTS.values())


def killing(round_: int):  # noqa: ANN201 - a CrashPoints.__call__ replacement
    """Every change stops at point ``round_`` of its family's list (shorter lists cycle)."""

    def crash(self, point: str) -> None:
        points = MODULE_POINTS.get(sys._getframe(1).f_globals["__name__"])
        if points and point == points[round_ % len(points)]:
            raise Killed(f"simulated kill at {point}")

    return crash


def point_of(rule: str, round_: int) -> str:
    points = POINTS[rule]
    return points[round_ % len(points)]


def run(tmp_path, *args: str):
    return run_in_process(args, cli_env(ENV), tmp_path)


def target_assets(emu: Emu, rule: str) -> list[str]:
    """What the rule's target holds now, through the service API (every family's list, whatever it is)."""
    family, api, _, dst, _ = FAMILIES[rule]
    key = {"Ocp-Apim-Subscription-Key": KEYS[dst]}
    if rule == "fr2":
        body = emu.http.get(emu.url_of(dst, "formrecognizer/v2.1/custom/models?op=full"), headers=key).json()
        return [f"{m['modelId']}:{m['status']}" for m in body.get("modelList") or []]
    path = {"di": "documentintelligence/documentModels", "dicls": "documentintelligence/documentClassifiers",
            "fr3": "formrecognizer/documentModels", "cu": "contentunderstanding/analyzers",
            "ner": "language/authoring/analyze-text/projects"}[rule]
    body = emu.http.get(emu.url_of(dst, path), params={"api-version": api}, headers=key).json()
    return sorted(str(a.get("modelId") or a.get("classifierId") or a.get("analyzerId") or a.get("projectName"))
                  for a in body["value"] if not str(a.get("modelId", "")).startswith("prebuilt-"))


def accepted_copies(emu: Emu, rule: str) -> int:
    account, route, status = COPIES[rule]
    return sum(1 for e in emu.admin("GET", "requests")
               if e["account"] == account and e["route"] == route and e["status"] == status)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_replan_after_kill_converges_for_every_family(round_, remu, tmp_path, monkeypatch):
    # Rounds past the copy families' last point would repeat theirs: only Language has points left.
    rules = tuple(r for r in FAMILIES if round_ < len(POINTS[r]) or r == "ner")
    write_spec(tmp_path, remu, rules)
    r = run(tmp_path, "plan", "dr.toml", "-o", "plan.json")
    assert r.code == 0, r.text
    monkeypatch.setattr(apply_context.CrashPoints, "__call__", killing(round_))
    r = run(tmp_path, "apply", "plan.json")
    monkeypatch.undo()
    assert r.code == 1, r.text
    assert r.err.count("simulated kill at") >= len(rules), r.err  # every change was stopped at its point
    journal = read_json(tmp_path / "drplan.state.json")["journal"]
    assert {a.split("/")[0] for a in journal} == set(rules), journal  # the journal says what was in flight

    remu.admin("POST", "clock", {"advance_seconds": 2})
    r = run(tmp_path, "plan", "dr.toml", "-o", "plan2.json", "--detailed-exitcode")
    assert r.code == 2, r.text  # never "no changes" while the journal holds unfinished work
    assert r.out.count("unfinished apply:") == len(rules), r.out  # each change says what it does about it
    if round_ in (0, ROUNDS - 1):  # check exports Language projects again: twice is enough to show it
        r = run(tmp_path, "check", "dr.toml")
        assert r.code == 2 and r.out.count("unfinished") >= len(rules), r.text
    r = run(tmp_path, "apply", "plan2.json")
    reserved = {rule for rule in rules if (rule, point_of(rule, round_)) in RESERVED}
    if reserved:
        # The token died with the apply: the id stays reserved until the authorization expires, as explained.
        failed = {line.split("/")[0].strip(" -") for line in r.err.splitlines() if line.startswith("  - ")}
        assert r.code == 1 and failed == reserved and "reserved by an earlier copy authorization" in r.err, r.text
        remu.admin("POST", "clock", {"advance_seconds": 3700})
        r = run(tmp_path, "apply", "dr.toml", "--auto-approve")
    assert r.code == 0, r.text

    remu.admin("POST", "clock", {"advance_seconds": 2})
    r = run(tmp_path, "plan", "dr.toml", "--detailed-exitcode")
    assert r.code == 0, r.text
    state = read_json(tmp_path / "drplan.state.json")
    assert state["journal"] == {} and len(state["resources"]) == len(rules)
    for rule in rules:  # no duplicate: one accepted copy (Language: one training); no orphan on the target
        assert accepted_copies(remu, rule) == 1, rule
        held = target_assets(remu, rule)
        assert len(held) == 1 and (rule != "fr2" or held[0].endswith(":ready")), (rule, held)


def test_pipeline_rerun_after_a_real_kill_converges(remu, tmp_path):
    """A real process killed while a copy runs (its lock left behind), then the pipeline's re-run: plan and apply in
    one go. It takes over the dead holder's lock, finishes the copy in flight, and copies nothing twice."""
    write_spec(tmp_path, remu, ("di", "cu"))
    remu.admin("PUT", "settings", {"copy_seconds": 0.3})
    env = cli_env(ENV)
    r = run_process(("apply", "dr.toml", "--auto-approve", "--parallelism", "1"),
                    {**env, "DRPLAN_TEST_CRASH_AT": "after-journal-copying"}, tmp_path)
    assert r.code == 137, r.text
    assert (tmp_path / "drplan.state.json.lock").exists()
    r = run(tmp_path, "apply", "dr.toml", "--auto-approve")
    assert r.code == 0, r.text
    assert "unfinished apply: finish it" in r.out, r.out
    assert run(tmp_path, "plan", "dr.toml", "--detailed-exitcode").code == 0
    assert accepted_copies(remu, "di") == accepted_copies(remu, "cu") == 1
