"""Removed rules and renames end to end for Content Understanding and Language custom NER (issue 17 point 6; Document
Intelligence and Form Recognizer v2.1 are in test_moves_orphans_e2e.py): the records of a removed rule are orphaned
changes, kept (with the hint, and a warning in ``drplan check``) without ``--allow-delete`` and deleted on the target
with it (the state record removed, the next plan empty); a CU ``/defaults`` record is a target setting other rules may
share, so it is never deleted (and renders: it crashed the renderers once); an orphan whose copy changed out of band
after the plan is refused at apply (exit 3, nothing deleted); a ``[[moved]]`` rename of a Language rule keeps its
project (no export, import, training or deployment)."""

from __future__ import annotations

import textwrap

import pytest
from e2e_support import SUB, Emu, emulator_fixtures, read_json

from drplan.errors import EXIT_CHANGES, EXIT_OK, EXIT_STALE_PLAN

ARM = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts"

# -- Content Understanding ----------------------------------------------------------------------------------------
CU_API = "2025-11-01"
CU_KEYS = {"cusrc": "orph-cu-key-src-1a2b3c", "cudst": "orph-cu-key-dst-4d5e6f"}
CU_ENV = {f"KEY_{n.upper()}": k for n, k in CU_KEYS.items()}
CU_MODELS = '{ completion = "gpt-4.1", embedding = "text-embedding-3-large" }'
CU_CONFIG = f"""
seed = 13
[settings]
copy_seconds = 0
retry_after_seconds = 0
authorization_ttl_seconds = 3600

[accounts.cusrc]
region = "eastus"
key = "{CU_KEYS['cusrc']}"
resource_id = "{ARM}/cusrc"
deployments = {{ "gpt41-east" = "gpt-4.1", "te3l-east" = "text-embedding-3-large" }}
model_deployments = {{ "gpt-4.1" = "gpt41-east", "text-embedding-3-large" = "te3l-east" }}

[[accounts.cusrc.analyzers]]
analyzer_id = "invoice"
description = "Invoices"
base_analyzer_id = "prebuilt-document"
models = {CU_MODELS}
field_schema = {{ name = "invoice", fields = {{ total = {{ type = "number" }} }} }}

[[accounts.cusrc.analyzers]]
analyzer_id = "receipt"
base_analyzer_id = "prebuilt-document"
models = {CU_MODELS}
field_schema = {{ name = "receipt", fields = {{ merchant = {{ type = "string" }} }} }}

[accounts.cudst]
region = "northeurope"
key = "{CU_KEYS['cudst']}"
resource_id = "{ARM}/cudst"
deployments = {{ "gpt41-n" = "gpt-4.1", "te3l-n" = "text-embedding-3-large" }}
model_deployments = {{ "text-embedding-3-large" = "te3l-n" }}
"""

cu_orphan_emulator, cuemu = emulator_fixtures(CU_CONFIG, "cu_orphan_emulator")


def cu_get(emu: Emu, account: str, path: str) -> dict:
    r = emu.http.get(emu.url_of(account, f"contentunderstanding/{path}?api-version={CU_API}"),
                     headers={"Ocp-Apim-Subscription-Key": CU_KEYS[account]})
    r.raise_for_status()
    return r.json()


def cu_analyzers(emu: Emu, account: str) -> set[str]:
    return {a["analyzerId"] for a in cu_get(emu, account, "analyzers")["value"]}


def cu_spec_text(emu: Emu, rules: dict[str, str]) -> str:
    """cusrc -> cudst, one rule per entry (name -> analyzer), each setting the same /defaults override on cudst."""
    text = "version = 1\n"
    for name, region in (("cusrc", "eastus"), ("cudst", "northeurope")):
        text += textwrap.dedent(f"""
            [resources.{name}]
            family = "content-understanding"
            endpoint = "{emu.endpoint(name)}"
            region = "{region}"
            resource_id = "{ARM}/{name}"
            api_version = "{CU_API}"
            key_env = "KEY_{name.upper()}"
            """)
    for rule, analyzer in rules.items():
        text += textwrap.dedent(f"""
            [[replicate]]
            name = "{rule}"
            source = "cusrc"
            targets = ["cudst"]
            analyzers = ["{analyzer}"]

            [replicate.deployments.cudst]
            completion = "gpt41-n"
            """)
    return text


def test_cu_removed_rule_orphans_kept_then_analyzer_deleted_and_defaults_never(cuemu, drplan, tmp_path):
    spec = tmp_path / "dr.toml"
    spec.write_text(cu_spec_text(cuemu, {"inv": "invoice", "rcp": "receipt"}))
    r = drplan("apply", "dr.toml", "--auto-approve", env=CU_ENV)
    assert r.code == EXIT_OK, r.text
    assert cu_analyzers(cuemu, "cudst") == {"invoice", "receipt"}
    assert cu_get(cuemu, "cudst", "defaults")["modelDeployments"]["gpt-4.1"] == "gpt41-n"
    patches = cuemu.route_count("cudst", "cu:defaults:patch")
    state = read_json(tmp_path / "drplan.state.json")
    assert sorted(state["resources"]) == ["inv/cudst/analyzer/invoice", "inv/cudst/model-deployment/gpt-4.1",
                                          "rcp/cudst/analyzer/receipt", "rcp/cudst/model-deployment/gpt-4.1"]

    # The rule "inv" is removed: its analyzer and its record of the /defaults key rule "rcp" still sets are orphaned.
    spec.write_text(cu_spec_text(cuemu, {"rcp": "receipt"}))
    r = drplan("plan", "dr.toml", "--detailed-exitcode", env=CU_ENV)
    assert r.code == EXIT_OK, r.text  # kept orphans are no changes, but never hidden behind "in sync" alone
    assert ("No changes. 1 copy and 1 target setting in sync. 2 state records no rule claims (orphaned: kept; "
            "see the warnings).") in r.out, r.out
    assert "inv/cudst/analyzer/invoice  (no change)" in r.out
    assert "forget it with drplan state rm inv/cudst/analyzer/invoice" in r.out and "--allow-delete" in r.out
    assert "the /defaults key is left as it is (other analyzers may use it)" in r.out
    r = drplan("check", "dr.toml", env=CU_ENV)
    assert r.code == EXIT_OK, r.text
    assert "In sync: 1 copy and 1 target setting match the spec." in r.out, r.out
    for addr in ("inv/cudst/analyzer/invoice", "inv/cudst/model-deployment/gpt-4.1"):
        assert f"Warning: {addr}: orphaned: recorded in state by rule 'inv'" in r.out, r.out

    r = drplan("plan", "dr.toml", "-o", "plan.json", "--allow-delete", env=CU_ENV)
    assert r.code == EXIT_OK, r.text
    # the analyzer is deleted; the shared /defaults key never is (its record stays, orphaned, with how to forget it)
    assert ("Plan: 0 to create, 0 to replace, 1 to delete, 3 unchanged. 1 state record no rule claims "
            "(orphaned: kept; see the warnings).") in r.out, r.out
    assert "- inv/cudst/analyzer/invoice  (delete)" in r.out
    assert "inv/cudst/model-deployment/gpt-4.1  (no change)" in r.out
    plan = read_json(tmp_path / "plan.json")
    actions = {c["address"]: c["actions"] for c in plan["changes"]}
    assert actions["inv/cudst/analyzer/invoice"] == ["delete"]
    assert actions["inv/cudst/model-deployment/gpt-4.1"] == ["no-op"]
    md = drplan("show", "plan.json", "--format", "markdown", env=CU_ENV).out
    assert "**1** to delete" in md and "1 delete(s) remove copies" in md
    assert "<code>inv/cudst/analyzer/invoice</code> — delete" in md
    assert "<code>inv/cudst/model-deployment/gpt-4.1</code> — no change" in md

    r = drplan("apply", "plan.json", env=CU_ENV)
    assert r.code == EXIT_OK, r.text
    assert cu_analyzers(cuemu, "cudst") == {"receipt"}  # deleted on the target
    assert cu_get(cuemu, "cudst", "defaults")["modelDeployments"]["gpt-4.1"] == "gpt41-n"  # untouched
    assert cuemu.route_count("cudst", "cu:defaults:patch") == patches  # never patched since
    state = read_json(tmp_path / "drplan.state.json")
    assert sorted(state["resources"]) == ["inv/cudst/model-deployment/gpt-4.1", "rcp/cudst/analyzer/receipt",
                                          "rcp/cudst/model-deployment/gpt-4.1"]
    r = drplan("plan", "dr.toml", "--detailed-exitcode", "--allow-delete", env=CU_ENV)
    assert r.code == EXIT_OK, r.text
    assert "No changes. 1 copy and 1 target setting in sync. 1 state record no rule claims" in r.out, r.out
    # forgetting the /defaults record (the key stays) leaves nothing orphaned
    assert drplan("state", "rm", "inv/cudst/model-deployment/gpt-4.1", "--spec", "dr.toml", env=CU_ENV).code == 0
    r = drplan("plan", "dr.toml", "--detailed-exitcode", "--allow-delete", env=CU_ENV)
    assert r.code == EXIT_OK and "No changes. 1 copy and 1 target setting in sync.\n" in r.out, r.text
    assert cu_get(cuemu, "cudst", "defaults")["modelDeployments"]["gpt-4.1"] == "gpt41-n"


def test_cu_orphan_changed_on_the_target_after_the_plan_is_not_deleted(cuemu, drplan, tmp_path):
    spec = tmp_path / "dr.toml"
    spec.write_text(cu_spec_text(cuemu, {"inv": "invoice", "rcp": "receipt"}))
    assert drplan("apply", "dr.toml", "--auto-approve", env=CU_ENV).code == EXIT_OK
    spec.write_text(cu_spec_text(cuemu, {"rcp": "receipt"}))
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--allow-delete", env=CU_ENV)
    assert r.code == EXIT_OK and "1 to delete" in r.out, r.text
    before = read_json(tmp_path / "drplan.state.json")
    # someone edits the orphaned copy on the target between review and apply
    cuemu.admin("POST", "accounts/cudst/analyzers", {
        "analyzer_id": "invoice", "replace": True, "description": "edited by hand",
        "base_analyzer_id": "prebuilt-document",
        "models": {"completion": "gpt-4.1", "embedding": "text-embedding-3-large"}})
    r = drplan("apply", "plan.json", env=CU_ENV)
    assert r.code == EXIT_STALE_PLAN, r.text
    assert "the plan no longer matches the live resources; run drplan plan again" in r.err, r.err
    assert "inv/cudst/analyzer/invoice: cudst/invoice changed on the target since the plan" in r.err, r.err
    assert "Traceback" not in r.text
    assert cu_analyzers(cuemu, "cudst") == {"invoice", "receipt"}  # nothing deleted
    assert cuemu.route_count("cudst", "cu:analyzers:delete") == 0
    after = read_json(tmp_path / "drplan.state.json")
    assert after["resources"] == before["resources"] and after["journal"] == {}


# -- Language custom NER ------------------------------------------------------------------------------------------
LANG_KEYS = {"lsrc": "orph-lang-key-src-7a8b9c", "ldst": "orph-lang-key-dst-0d1e2f"}
LANG_ENV = {f"KEY_{n.upper()}": k for n, k in LANG_KEYS.items()}
LANG_CONFIG = f"""
seed = 17
[settings]
copy_seconds = 0
retry_after_seconds = 0

[accounts.lsrc]
resource_id = "{ARM}/lsrc"
region = "eastus"
key = "{LANG_KEYS['lsrc']}"

[[accounts.lsrc.language_projects]]
project_name = "contracts"
storage_input_container = "contracts-docs"
entities = ["Party"]
documents = [{{ location = "doc1.txt", labels = [{{ category = "Party", offset = 0, length = 5 }}] }}]

[[accounts.lsrc.language_projects]]
project_name = "invoices"
storage_input_container = "invoices-docs"
entities = ["Vendor"]
documents = [{{ location = "inv1.txt", labels = [{{ category = "Vendor", offset = 0, length = 4 }}] }}]

[accounts.ldst]
resource_id = "{ARM}/ldst"
region = "westus2"
key = "{LANG_KEYS['ldst']}"
"""

lang_orphan_emulator, lemu = emulator_fixtures(LANG_CONFIG, "lang_orphan_emulator")
LANG_ROUTES = (("lsrc", "language:export"), ("ldst", "language:import"), ("ldst", "language:train"),
               ("ldst", "language:deployments:put"))


@pytest.fixture
def ldrplan(drplan, lemu):
    """Each run a second of service time after the one before (the service's times are whole seconds; see
    test_language_e2e.py)."""

    def run(*args: str, **kwargs):
        lemu.admin("POST", "clock", {"advance_seconds": 1})
        return drplan(*args, env=LANG_ENV, **kwargs)

    return run


def lang_spec_text(emu: Emu, rules: dict[str, str], moved: str = "") -> str:
    """lsrc -> ldst, one rule per entry (name -> project), trained and deployed on the target."""
    text = "version = 1\n"
    for name, region in (("lsrc", "eastus"), ("ldst", "westus2")):
        text += textwrap.dedent(f"""
            [resources.{name}]
            family = "language"
            endpoint = "{emu.endpoint(name)}"
            region = "{region}"
            resource_id = "{ARM}/{name}"
            api_version = "2023-04-01"
            key_env = "KEY_{name.upper()}"
            """)
    for rule, project in rules.items():
        text += textwrap.dedent(f"""
            [[replicate]]
            name = "{rule}"
            source = "lsrc"
            targets = ["ldst"]
            projects = ["{project}"]

            [replicate.train]
            model_label = "dr"
            training_config_version = "2022-05-01"
            deployment = "prod"
            """)
    return text + textwrap.dedent(moved)


def lang_projects(emu: Emu, account: str) -> set[str]:
    r = emu.http.get(emu.url_of(account, "language/authoring/analyze-text/projects"),
                     params={"api-version": "2023-04-01"}, headers={"Ocp-Apim-Subscription-Key": LANG_KEYS[account]})
    r.raise_for_status()
    return {p["projectName"] for p in r.json()["value"]}


def lang_counts(emu: Emu) -> dict[tuple[str, str], int]:
    return {(a, route): emu.route_count(a, route) for a, route in LANG_ROUTES}


def test_language_moved_rule_keeps_its_project_and_removed_rule_is_deleted(lemu, ldrplan, tmp_path):
    spec = tmp_path / "dr.toml"
    spec.write_text(lang_spec_text(lemu, {"ner": "contracts", "old": "invoices"}))
    r = ldrplan("apply", "dr.toml", "--auto-approve")
    assert r.code == EXIT_OK, r.text
    assert lang_projects(lemu, "ldst") == {"contracts", "invoices"}
    counts = lang_counts(lemu)
    assert counts[("ldst", "language:import")] == 2 and counts[("ldst", "language:train")] == 2

    # Rename "ner" to "entities" with a [[moved]] block: the record moves, the project is not exported, imported,
    # trained or deployed again.
    moved = '\n[[moved]]\nfrom = "ner"\nto = "entities"\n'
    spec.write_text(lang_spec_text(lemu, {"entities": "contracts", "old": "invoices"}, moved))
    r = ldrplan("plan", "dr.toml", "-o", "plan.json", "--detailed-exitcode")
    assert r.code == EXIT_CHANGES, r.text
    assert "Plan: 0 to create, 0 to replace, 0 to delete, 2 unchanged, 1 to move in state." in r.out, r.out
    assert "entities/ldst/language-project/contracts  (no change (moved))" in r.out
    assert "orphaned" not in r.out
    r = ldrplan("apply", "plan.json")
    assert r.code == EXIT_OK and "1 state record(s) moved" in r.out, r.text
    state = read_json(tmp_path / "drplan.state.json")
    assert sorted(state["resources"]) == ["entities/ldst/language-project/contracts",
                                          "old/ldst/language-project/invoices"]
    assert state["resources"]["entities/ldst/language-project/contracts"]["rule"] == "entities"
    assert lang_counts(lemu) == counts  # no recopy: nothing exported, imported, trained or deployed

    # Remove the rule "old": its project is orphaned, kept until --allow-delete.
    spec.write_text(lang_spec_text(lemu, {"entities": "contracts"}, moved))
    r = ldrplan("plan", "dr.toml", "--detailed-exitcode")
    assert r.code == EXIT_OK, r.text
    assert "No changes. 1 copy in sync. 1 state record no rule claims (orphaned: kept; see the warnings)." in r.out
    assert "old/ldst/language-project/invoices  (no change)" in r.out
    assert "drplan state rm old/ldst/language-project/invoices" in r.out and "--allow-delete" in r.out
    r = ldrplan("check", "dr.toml")
    assert r.code == EXIT_OK, r.text
    assert "In sync: 1 copy matches the spec." in r.out, r.out
    assert "Warning: old/ldst/language-project/invoices: orphaned: recorded in state by rule 'old'" in r.out

    r = ldrplan("plan", "dr.toml", "-o", "plan.json", "--allow-delete")
    assert r.code == EXIT_OK, r.text
    assert "Plan: 0 to create, 0 to replace, 1 to delete, 1 unchanged." in r.out, r.out
    assert "- old/ldst/language-project/invoices  (delete)" in r.out and "ldst/invoices" in r.out
    md = ldrplan("show", "plan.json", "--format", "markdown").out
    assert "**1** to delete" in md and "1 delete(s) remove copies" in md
    assert "<code>old/ldst/language-project/invoices</code> — delete" in md
    # The project is edited on the target after the plan: apply refuses the delete (stale plan), deleting nothing.
    lemu.admin("POST", "accounts/ldst/language/projects", {
        "replace": True, "project_name": "invoices", "storage_input_container": "invoices-docs",
        "entities": ["Vendor", "Added"]})
    r = ldrplan("apply", "plan.json")
    assert r.code == EXIT_STALE_PLAN, r.text
    assert "old/ldst/language-project/invoices: ldst/invoices changed on the target since the plan" in r.err, r.err
    assert lang_projects(lemu, "ldst") == {"contracts", "invoices"}
    assert lemu.route_count("ldst", "language:projects:delete") == 0
    assert "old/ldst/language-project/invoices" in read_json(tmp_path / "drplan.state.json")["resources"]
    r = ldrplan("plan", "dr.toml", "-o", "plan.json", "--allow-delete")  # reviewed again, as it is now
    assert r.code == EXIT_OK and "1 to delete" in r.out, r.text
    r = ldrplan("apply", "plan.json")
    assert r.code == EXIT_OK, r.text
    assert lang_projects(lemu, "ldst") == {"contracts"}  # the project is deleted on the target
    state = read_json(tmp_path / "drplan.state.json")
    assert sorted(state["resources"]) == ["entities/ldst/language-project/contracts"] and state["journal"] == {}
    assert lang_counts(lemu) == counts
    r = ldrplan("plan", "dr.toml", "--detailed-exitcode", "--allow-delete")
    assert r.code == EXIT_OK and "No changes. 1 copy in sync." in r.out and "orphaned" not in r.out, r.text
