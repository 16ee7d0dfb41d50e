"""Renames and orphans end to end (issue 17 point 6): a ``[[moved]]`` block keeps a renamed rule's copies (no recopy,
the state rewritten in one write, the next plan empty), and the records of a removed rule are shown as orphaned
changes: kept without ``--allow-delete``, deleted on the target with it. Document Intelligence on the shared emulator,
Form Recognizer v2.1 (another family, server-picked ids) on its own."""

from __future__ import annotations

import json

from e2e_support import SUB, Emu, emulator_fixtures, read_json

from drplan.errors import EXIT_CHANGES, EXIT_OK

V2_KEYS = {"v2src": "v2-key-src-2468024", "v2a": "v2-key-a-1357913"}
V2_ENV = {f"KEY_{n.upper()}": k for n, k in V2_KEYS.items()}
V2_CONFIG = f"""
seed = 5
[settings]
copy_seconds = 0
retry_after_seconds = 0

[accounts.v2src]
resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/v2src"
region = "eastus"
key = "{V2_KEYS['v2src']}"

[[accounts.v2src.v2_models]]
model_id = "11111111-1111-4111-8111-111111111111"
model_name = "invoices-v2"
created = "2021-01-01T00:00:00Z"
last_updated = "2021-01-02T00:00:00Z"

[[accounts.v2src.v2_models]]
model_id = "22222222-2222-4222-8222-222222222222"
model_name = "receipts-v2"
created = "2021-02-01T00:00:00Z"
last_updated = "2021-02-02T00:00:00Z"

[accounts.v2a]
resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/v2a"
region = "westus2"
key = "{V2_KEYS['v2a']}"
"""


def v2_models(emu: Emu, account: str) -> dict[str, dict]:
    r = emu.http.get(emu.url_of(account, "formrecognizer/v2.1/custom/models?op=full"),
                     headers={"Ocp-Apim-Subscription-Key": V2_KEYS[account]})
    r.raise_for_status()
    return {m["modelId"]: m for m in r.json().get("modelList") or []}

ONE_TARGET = dict(classifiers="[]", targets='["west"]')
MODELS = ("invoice-2024", "po", "receipt-2024")


def created(emu, account: str) -> dict[str, str]:
    return {m: d["createdDateTime"] for m, d in emu.models(account).items()}


def test_moved_block_renames_a_rule_without_recopying(emu, spec_file, drplan, tmp_path):
    path = spec_file(**ONE_TARGET)
    assert drplan("apply", "dr.toml", "--auto-approve").code == EXIT_OK
    before = created(emu, "west")
    serial = read_json(tmp_path / "drplan.state.json")["serial"]
    copies = emu.route_count("src", "documentModels:copyTo")
    assert copies == 3
    path.write_text(path.read_text().replace('name = "prod"', 'name = "finance"')
                    + '\n[[moved]]\nfrom = "prod"\nto = "finance"\n')

    r = drplan("plan", "dr.toml", "-o", "plan.json", "--detailed-exitcode")
    assert r.code == EXIT_CHANGES, r.text  # moves are changes: apply must write them
    assert "Plan: 0 to create, 0 to replace, 0 to delete, 3 unchanged, 3 to move in state." in r.out, r.out
    assert "finance/west/document-model/po  (no change (moved))" in r.out
    assert "moved: from prod/west/document-model/po" in r.out and "orphaned" not in r.out
    doc = read_json(tmp_path / "plan.json")
    assert {c["address"]: c["settings"]["moved_from"] for c in doc["changes"]} == {
        f"finance/west/document-model/{m}": f"prod/west/document-model/{m}" for m in MODELS}
    md = drplan("show", "plan.json", "--format", "markdown").out
    assert "**Moved:** 3 state records move" in md and "moved from prod/west/document-model/po" in md

    r = drplan("apply", "plan.json")
    assert r.code == EXIT_OK and "3 state record(s) moved" in r.out, r.text
    state = read_json(tmp_path / "drplan.state.json")
    assert state["serial"] == serial + 1  # one atomic write: the records and the apply record
    assert sorted(state["resources"]) == [f"finance/west/document-model/{m}" for m in MODELS]
    assert {rec["rule"] for rec in state["resources"].values()} == {"finance"}
    assert state["applies"][-1]["status"] == "complete"
    assert created(emu, "west") == before and emu.route_count("src", "documentModels:copyTo") == copies  # nothing recopied

    # The block may stay: its records are moved already, so it does nothing.
    r = drplan("plan", "dr.toml", "--detailed-exitcode")
    assert r.code == EXIT_OK and "No changes. 3 copies in sync." in r.out and "moved" not in r.out, r.text


def test_removed_rule_orphans_are_kept_then_deleted_with_allow_delete(emu, spec_file, drplan, tmp_path):
    path = spec_file(**ONE_TARGET)
    assert drplan("apply", "dr.toml", "--auto-approve").code == EXIT_OK
    # The rule now selects po only, under a new name: invoice-2024 and receipt-2024 are no rule's any more.
    text = path.read_text().replace('name = "prod"', 'name = "finance"')
    path.write_text(text.replace('models = ["invoice-*", "receipt-*", "po"]', 'models = ["po"]')
                    + '\n[[moved]]\nfrom = "prod/west/document-model/po"\nto = "finance/west/document-model/po"\n')

    r = drplan("plan", "dr.toml", "--detailed-exitcode")
    assert r.code == EXIT_CHANGES, r.text  # the po move
    assert "2 state records no rule claims (orphaned: kept; see the warnings)" in r.out, r.out
    assert "prod/west/document-model/invoice-2024  (no change)" in r.out
    assert "drplan state rm prod/west/document-model/invoice-2024" in r.out and "--allow-delete" in r.out
    r = drplan("plan", "dr.toml", "--json")
    events = [json.loads(line) for line in r.out.splitlines()]
    orphaned = [e for e in events if e["type"] == "planned_change" and "orphaned" in e["message"]]
    assert len(orphaned) == 2 and all(e["level"] == "warning" for e in orphaned)
    # check: the copies are fine (exit 0), but neither the orphans nor the pending move hide behind "in sync"
    r = drplan("check", "dr.toml")
    assert r.code == EXIT_OK, r.text
    assert "In sync: 1 copy matches the spec." in r.out, r.out
    assert "Warning: prod/west/document-model/invoice-2024: orphaned: recorded in state by rule 'prod'" in r.out
    assert ("Warning: finance/west/document-model/po: the state still records this copy at "
            "prod/west/document-model/po") in r.out

    r = drplan("plan", "dr.toml", "-o", "plan.json", "--allow-delete")
    assert r.code == EXIT_OK, r.text
    assert "Plan: 0 to create, 0 to replace, 2 to delete, 1 unchanged, 1 to move in state." in r.out, r.out
    md = drplan("show", "plan.json", "--format", "markdown").out
    assert "**Destructive:** 0 replace(s)" in md and "2 delete(s)" in md
    r = drplan("apply", "plan.json")
    assert r.code == EXIT_OK, r.text
    assert sorted(emu.models("west")) == ["po"]  # deleted on the target
    state = read_json(tmp_path / "drplan.state.json")
    assert sorted(state["resources"]) == ["finance/west/document-model/po"]
    r = drplan("plan", "dr.toml", "--detailed-exitcode", "--allow-delete")
    assert r.code == EXIT_OK and "No changes. 1 copy in sync." in r.out, r.text


def test_orphans_of_a_target_resource_gone_from_the_spec_are_kept_and_said_so(emu, spec_file, drplan, tmp_path):
    path = spec_file(classifiers="[]", targets='["west", "north"]')
    assert drplan("apply", "dr.toml", "--auto-approve").code == EXIT_OK
    # The rule and the north resource are both gone: drplan has no endpoint or key for north any more.
    text = path.read_text().replace('name = "prod"', 'name = "finance"').replace('targets = ["west", "north"]',
                                                                                 'targets = ["west"]')
    start = text.index("[resources.north]")
    path.write_text(text[:start] + text[text.index("[resources.plain]"):]
                    + '\n[[moved]]\nfrom = "prod/west"\nto = "finance/west"\n')
    r = drplan("plan", "dr.toml", "--allow-delete")
    assert r.code == EXIT_OK, r.text
    assert "0 to delete" in r.out and "3 state records no rule claims" in r.out, r.out
    assert "its target resource 'north' is no longer in the spec either, so drplan has no endpoint or key" in r.out
    assert len(emu.models("north")) == 3


v2_process, emu2 = emulator_fixtures(V2_CONFIG, "moves_v2_emulator")


def test_fr_v2_orphans_deleted_with_allow_delete(emu2, drplan, tmp_path):
    text = "version = 1\n"
    for name, region in (("v2src", "eastus"), ("v2a", "westus2")):
        text += (f'\n[resources.{name}]\nfamily = "form-recognizer"\nendpoint = "{emu2.endpoint(name)}"\n'
                 f'region = "{region}"\nresource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/'
                 f'Microsoft.CognitiveServices/accounts/{name}"\napi_version = "2.1"\nkey_env = "KEY_{name.upper()}"\n')
    rule = '\n[[replicate]]\nname = "forms"\nsource = "v2src"\ntargets = ["v2a"]\nmodels = ["*-v2"]\n'
    spec = tmp_path / "dr.toml"
    spec.write_text(text + rule)
    assert drplan("apply", "dr.toml", "--auto-approve", env=V2_ENV).code == EXIT_OK
    assert len(v2_models(emu2, "v2a")) == 2
    # Rename the rule and move only the invoices copy: the receipts record belongs to no rule.
    spec.write_text(text + rule.replace('"forms"', '"forms2"').replace('"*-v2"', '"invoices-v2"'))
    state = read_json(tmp_path / "drplan.state.json")
    invoices = next(a for a, rec in state["resources"].items() if rec["source_id"].startswith("1111"))
    spec.write_text(spec.read_text() + f'\n[[moved]]\nfrom = "{invoices}"\nto = "{invoices.replace("forms/", "forms2/")}"\n')

    r = drplan("plan", "dr.toml", env=V2_ENV)
    assert r.code == EXIT_OK and "1 state record no rule claims" in r.out and "0 to create" in r.out, r.text
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--allow-delete", env=V2_ENV)
    assert "1 to delete" in r.out and "0 to create" in r.out, r.text
    assert drplan("apply", "plan.json", env=V2_ENV).code == EXIT_OK
    left = v2_models(emu2, "v2a")
    assert [m.get("modelName") for m in left.values()] == ["invoices-v2"]
    state = read_json(tmp_path / "drplan.state.json")
    assert [rec["rule"] for rec in state["resources"].values()] == ["forms2"]
    assert drplan("plan", "dr.toml", "--detailed-exitcode", "--allow-delete", env=V2_ENV).code == EXIT_OK


def test_moves_survive_a_kill_and_the_resumed_apply_finishes(emu, spec_file, drplan, tmp_path):
    path = spec_file(**ONE_TARGET)
    assert drplan("apply", "dr.toml", "--auto-approve").code == EXIT_OK
    text = path.read_text().replace('name = "prod"', 'name = "finance"')
    path.write_text(text.replace('"po"]', '"po", "draft-x"]') + '\n[[moved]]\nfrom = "prod"\nto = "finance"\n')
    assert drplan("plan", "dr.toml", "-o", "plan.json").code == EXIT_OK
    r = drplan("apply", "plan.json", env={"DRPLAN_TEST_CRASH_AT": "after-journal-authorizing"})
    assert r.code == 137, r.text
    state = read_json(tmp_path / "drplan.state.json")  # the moves reached the state in the apply's first write
    assert sorted(state["resources"]) == [f"finance/west/document-model/{m}" for m in MODELS]
    assert list(state["journal"]) == ["finance/west/document-model/draft-x"]
    r = drplan("apply", "plan.json")
    assert r.code == EXIT_OK and "moved" not in r.out, r.text  # nothing left to move
    assert drplan("plan", "dr.toml", "--detailed-exitcode").code == EXIT_OK
