"""Language planning (pure): create / replace with the exact summarised diff / no-op from state without an export /
drift / update for missing training / a foreign project is an error / documents live in storage (warning), and which
projects the plan step exports."""

from __future__ import annotations

import copy

from helpers import arm_id, make_spec

from drplan.families.base import Inventory
from drplan.families.language.adapter import project_asset
from drplan.families.language.assets import canonical, content_digest, summarise
from drplan.families.language.plan import language_fetches
from drplan.plan.planner import build_plan
from drplan.spec.model import Family, LanguageTraining, Resource, Rule
from drplan.state.model import State

T0, T1, T2 = "2025-01-02T00:00:00Z", "2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z"
NER = "CustomEntityRecognition"
ADDR = "ner/west/language-project/contracts"
TRAIN = LanguageTraining("dr", "2022-05-01", "prod")


def lang(name: str, region: str = "eastus") -> Resource:
    return Resource(name=name, family=Family.LANGUAGE, endpoint=f"https://{name}.example", region=region,
                    resource_id=arm_id(name), api_version="2023-04-01", key_env=f"KEY_{name.upper()}")


def spec_for(**rule_kw):
    rule_kw.setdefault("projects", ("contracts",))
    r = Rule(name="ner", source="src", targets=("west",), **rule_kw)
    return make_spec(r, resources=[lang("src"), lang("west", "westus")])


def doc(location: str, *labels: tuple[str, int, int], dataset: str = "Train") -> dict:
    return {"location": location, "language": "en", "dataset": dataset,
            "entities": [{"regionOffset": 0, "regionLength": 100,
                          "labels": [{"category": c, "offset": o, "length": n} for c, o, n in labels]}]}


def exported(name: str = "contracts", entities=("Party", "Date"), documents=None, **meta) -> dict:
    docs = documents if documents is not None else [doc("doc1.txt", ("Party", 0, 5), ("Date", 10, 10)),
                                                    doc("doc2.txt", ("Date", 3, 8), dataset="Test")]
    return {"projectFileVersion": "2023-04-01", "stringIndexType": "Utf16CodeUnit",
            "metadata": {"projectName": name, "projectKind": NER, "language": "en", "multilingual": False,
                         "storageInputContainerName": "contracts-docs", **meta},
            "assets": {"projectKind": NER, "entities": [{"category": e} for e in entities], "documents": docs}}


def project(name: str = "contracts", modified: str = T0, *, export: dict | None = None, models=None,
            deployments=None):
    a = project_asset({"projectName": name, "projectKind": NER, "language": "en",
                       "storageInputContainerName": "contracts-docs", "createdDateTime": "2025-01-01T00:00:00Z",
                       "lastModifiedDateTime": modified})
    if export is not None:
        a.detail["exported"] = export
    if models is not None:
        a.detail["models"] = {m["label"]: m for m in models}
        a.detail["deployments"] = {d["name"]: d for d in deployments or []}
    return a


def model(label: str = "dr", trained: str = T2, model_id: str = "dr-1", version: str = "2022-05-01") -> dict:
    return {"label": label, "modelId": model_id, "trained": trained.replace("Z", ".000Z"),
            "training_config_version": version}


def deployment(name: str = "prod", model_id: str = "dr-1") -> dict:
    return {"name": name, "modelId": model_id, "trained": "", "deployed": "", "training_config_version": ""}


def inv(name: str, *assets) -> Inventory:
    out = Inventory(resource=name)
    for a in assets:
        out.assets[(a.kind, a.id)] = a
    return out


def record(source_modified: str = T0, target_modified: str = T1, export: dict | None = None, **extra) -> dict:
    return {"rule": "ner", "kind": "language-project", "source_resource": "src", "source_id": "contracts",
            "source_fingerprint": f"modified={source_modified.replace('Z', '.000Z')}", "target_resource": "west",
            "target_id": "contracts", "copied_at": "2025-03-01T00:00:01Z",
            "source_modified": source_modified.replace("Z", ".000Z"),
            "target_modified": target_modified.replace("Z", ".000Z"),
            "content_digest": content_digest(export or exported()), **extra}


def plan_for(spec, invs, state=None):
    return build_plan(spec, invs, state or State.new(), state_existed=state is not None,
                      created_at="2026-01-01T00:00:00+00:00")


def the_change(plan, addr=ADDR):
    return {c.address: c for c in plan.changes}[addr]


def test_create_exports_imports_trains_and_deploys_and_warns_about_documents():
    spec = spec_for(train=TRAIN)
    src = project(export=exported())
    plan = plan_for(spec, {"src": inv("src", src), "west": inv("west")})
    c = the_change(plan)
    assert c.actions == ["create"]
    assert c.steps == ["export", "import", "train", "deploy"]
    assert c.settings == {"model_label": "dr", "training_config_version": "2022-05-01", "deployment": "prod"}
    assert "'west' has no project 'contracts'" in c.reason and "2 document(s), 3 label(s)" in c.reason
    assert c.source.extra["content_digest"] == content_digest(exported())
    assert c.source.fingerprint == "modified=2025-01-02T00:00:00.000Z"
    assert {"type": "target_absent"} in c.preconditions
    assert {"type": "source_content", "resource": "src", "id": "contracts",
            "content_digest": content_digest(exported())} in c.preconditions
    assert len(c.warnings) == 1 and "blob container 'contracts-docs'" in c.warnings[0]
    assert "not the documents" in c.warnings[0]
    assert plan.applyable is True and plan.summary["create"] == 1


def test_create_without_documents_has_no_storage_warning_and_no_training_steps():
    plan = plan_for(spec_for(), {"src": inv("src", project(export=exported(documents=[]))), "west": inv("west")})
    c = the_change(plan)
    assert c.steps == ["export", "import"] and c.warnings == [] and not c.settings


def test_replace_shows_exactly_the_summarised_difference_and_is_destructive():
    old = exported()
    new = exported(entities=("Party", "Date", "Amount"),
                   documents=[doc("doc1.txt", ("Party", 0, 5), ("Amount", 10, 10)),
                              doc("doc2.txt", ("Date", 3, 8), dataset="Test"),
                              doc("doc3.txt", ("Amount", 1, 2))])
    state = State.new()
    state.resources[ADDR] = record(export=old)
    plan = plan_for(spec_for(train=TRAIN), {
        "src": inv("src", project(modified=T2, export=new)),
        "west": inv("west", project(modified=T1, export=copy.deepcopy(old), models=[model(trained=T1)],
                                    deployments=[deployment()]))}, state)
    c = the_change(plan)
    assert c.actions == ["delete", "create"]
    assert c.flags.destructive is True and c.flags.drift is False
    assert c.diff == ["+ entity: Amount", "+ document: doc3.txt (Train, 1 label)",
                         "~ labels doc1.txt: Date -> Amount (10..20)"]
    assert "the source project changed since the last import" in c.reason and "destructive" in c.reason
    assert {"type": "target_fingerprint", "fingerprint": "modified=2025-03-01T00:00:00.000Z"} in c.preconditions
    assert c.steps == ["export", "import", "train", "deploy"]


def test_no_op_from_state_needs_no_export():
    state = State.new()
    state.resources[ADDR] = record()
    spec = spec_for(train=TRAIN)
    invs = {"src": inv("src", project()),
            "west": inv("west", project(modified=T1, models=[model()], deployments=[deployment()]))}
    wanted = language_fetches(spec, invs, state)
    assert wanted.exports == set() and wanted.training == {("west", "contracts")}
    c = the_change(plan_for(spec, invs, state))
    assert c.actions == ["no-op"] and "neither src/contracts nor west/contracts changed" in c.reason
    assert c.errors == [] and c.warnings == []


def test_what_is_exported_at_plan_time():
    spec = spec_for()
    fresh = {"src": inv("src", project()), "west": inv("west")}
    assert language_fetches(spec, fresh, State.new()).exports == {("src", "contracts")}
    state = State.new()
    state.resources[ADDR] = record()
    moved = {"src": inv("src", project(modified=T2)), "west": inv("west", project(modified=T1))}
    assert language_fetches(spec, moved, state).exports == {("src", "contracts"), ("west", "contracts")}
    assert language_fetches(spec, moved, state, targets=("other/*",)).exports == set()  # --target narrows it
    assert not language_fetches(spec, moved, state).training  # the rule does not train


def test_equal_exports_are_in_sync_even_when_the_times_moved():
    state = State.new()
    state.resources[ADDR] = record()
    plan = plan_for(spec_for(), {"src": inv("src", project(modified=T2, export=exported())),
                                 "west": inv("west", project(modified=T1, export=exported(name="x")))}, state)
    c = the_change(plan)
    assert c.actions == ["no-op"] and "exported assets" in c.reason and "identical" in c.reason
    # apply records the new times (checked live first), so the next plan needs no export
    assert c.settings["refresh_record"] == {"source_modified": "2025-04-01T00:00:00.000Z",
                                               "target_modified": "2025-03-01T00:00:00.000Z",
                                               "content_digest": content_digest(exported())}
    assert {p["type"] for p in c.preconditions} == {"source_fingerprint", "target_fingerprint"}
    state.resources[ADDR].update(c.settings["refresh_record"])
    assert language_fetches(spec_for(), {"src": inv("src", project(modified=T2)),
                                         "west": inv("west", project(modified=T1))}, state).exports == set()


def test_target_changed_out_of_band_is_drift():
    state = State.new()
    state.resources[ADDR] = record()
    changed = exported(entities=("Party", "Date", "Extra"))
    plan = plan_for(spec_for(), {"src": inv("src", project(export=exported())),
                                 "west": inv("west", project(modified=T2, export=changed))}, state)
    c = the_change(plan)
    assert c.actions == ["delete", "create"] and c.flags.drift is True and c.flags.destructive
    assert c.reason.startswith("drift: west/contracts was changed out of band")
    assert c.diff == ["- entity: Extra"]


def test_recorded_copy_missing_on_the_target_is_drift_create():
    state = State.new()
    state.resources[ADDR] = record()
    c = the_change(plan_for(spec_for(), {"src": inv("src", project(export=exported())), "west": inv("west")}, state))
    assert c.actions == ["create"] and c.flags.drift is True and "missing" in c.reason


def test_update_when_training_is_missing_stale_or_not_deployed():
    state = State.new()
    state.resources[ADDR] = record()
    spec = spec_for(train=TRAIN)

    def change_with(models, deployments):
        invs = {"src": inv("src", project()),
                "west": inv("west", project(modified=T1, models=models, deployments=deployments))}
        return the_change(plan_for(spec, invs, state))

    c = change_with([], [])
    assert c.actions == ["update"] and c.steps == ["train", "deploy"]
    assert "has no model 'dr'" in c.reason
    assert {"type": "target_fingerprint", "fingerprint": "modified=2025-03-01T00:00:00.000Z"} in c.preconditions
    c = change_with([model(trained=T0)], [deployment()])
    assert c.steps == ["train", "deploy"] and "before the project's assets last changed" in c.reason
    c = change_with([model(version="2021-01-01")], [deployment()])
    assert c.steps == ["train", "deploy"] and "training config 2021-01-01" in c.reason
    c = change_with([model()], [])
    assert c.steps == ["deploy"] and "no deployment 'prod'" in c.reason
    c = change_with([model()], [deployment(model_id="other-7")])
    assert c.steps == ["deploy"] and "serves model other-7" in c.reason
    assert change_with([model()], [deployment()]).actions == ["no-op"]


def test_foreign_project_with_other_assets_is_an_error_never_an_overwrite():
    foreign = exported(entities=("Vendor",), documents=[])
    plan = plan_for(spec_for(), {"src": inv("src", project(export=exported())),
                                 "west": inv("west", project(modified=T1, export=foreign))})
    c = the_change(plan)
    assert c.actions == ["no-op"] and plan.applyable is False
    assert "drplan will not overwrite a project it did not create" in c.errors[0]
    assert "- entity: Vendor" in c.diff and "+ entity: Party" in c.diff


def test_foreign_project_with_the_same_assets_is_in_sync():
    plan = plan_for(spec_for(), {"src": inv("src", project(export=exported())),
                                 "west": inv("west", project(modified=T1, export=exported()))})
    assert the_change(plan).actions == ["no-op"] and plan.applyable is True


def test_rename_and_a_failed_export_are_reported_on_the_change():
    spec = spec_for(rename={"contracts": "contracts-dr"})
    src = project()
    src.detail["export_error"] = "src: the export job j1 ended failed: InternalServerError: boom"
    plan = plan_for(spec, {"src": inv("src", src), "west": inv("west")})
    c = the_change(plan, "ner/west/language-project/contracts-dr")
    assert c.target.id == "contracts-dr"
    assert "could not be exported at plan time: src: the export job j1 ended failed" in c.errors[0]


def test_diff_lines_for_metadata_documents_and_classification():
    old, new = exported(), exported(language="de", settings={"confidenceThreshold": 0.5})
    new["assets"]["documents"] = [doc("doc1.txt", ("Party", 0, 5), ("Date", 10, 10), ("Party", 30, 4)),
                                  doc("doc2.txt", ("Date", 3, 8))]
    assert summarise(old, new) == [
        '~ metadata.language: "en" -> "de"',
        '+ metadata.settings: {"confidenceThreshold": 0.5}',
        '~ document doc2.txt: dataset "Test" -> "Train"',
        "~ labels doc1.txt: + Party (30..34)",
    ]
    cls_old = {"metadata": {"projectKind": "CustomSingleLabelClassification"},
               "assets": {"projectKind": "CustomSingleLabelClassification", "classes": [{"category": "A"}],
                          "documents": [{"location": "a.txt", "class": {"category": "A"}}]}}
    cls_new = copy.deepcopy(cls_old)
    cls_new["assets"]["classes"].append({"category": "B"})
    cls_new["assets"]["documents"][0]["class"] = {"category": "B"}
    assert summarise(cls_old, cls_new) == ["+ class: B", "~ labels a.txt: + B; - A"]


def test_canonical_form_ignores_order_name_and_file_version():
    a = exported()
    b = copy.deepcopy(a)
    b["projectFileVersion"] = "2022-05-01"
    b["metadata"]["projectName"] = "renamed"
    b["metadata"].pop("multilingual")
    b["assets"]["documents"].reverse()
    b["assets"]["entities"].reverse()
    assert canonical(a) == canonical(b) and content_digest(a) == content_digest(b)
    b["assets"]["documents"][0]["dataset"] = "Train"
    assert content_digest(a) != content_digest(b)
