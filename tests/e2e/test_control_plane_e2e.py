"""Live facts from the control plane (issue 15), end to end: the real CLI against a real emulator process whose
management API (Azure Resource Manager) serves its accounts. Resources named only by resource_id (no endpoint,
region or encryption), the downgrade flag from the live keySource, a spec that disagrees with the account, a 403, a
throttled read, a wrong resource id, the control plane turned off, Content Understanding deployments checked before
anything is applied, and the ARM token never written anywhere."""

from __future__ import annotations

import textwrap
from pathlib import Path

from e2e_support import SUB, Emu, emulator_fixtures, read_json

TOKEN = "arm-e2e-token-7f7f7f-secret"
KEYS = {"cmk": "cp-key-cmk-1a1a", "mmk": "cp-key-mmk-2b2b", "hidden": "cp-key-hidden-3c3c",
        "cusrc": "cp-key-cusrc-4d4d", "cugood": "cp-key-cugood-5e5e", "cubad": "cp-key-cubad-6f6f"}
ENV = {f"KEY_{n.upper()}": k for n, k in KEYS.items()} | {"ARM_TOKEN": TOKEN}


def rid(name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/{name}"


CONFIG = f"""
seed = 15
[settings]
copy_seconds = 0
retry_after_seconds = 0
page_size = 1

[management]
token = "{TOKEN}"

[accounts.cmk]
region = "eastus"
key = "{KEYS['cmk']}"
resource_id = "{rid('cmk')}"
encryption = "customer-managed"
[[accounts.cmk.models]]
model_id = "invoice"
created = "2024-03-04T09:15:00Z"

[accounts.mmk]
region = "westus2"
key = "{KEYS['mmk']}"
resource_id = "{rid('mmk')}"

[accounts.hidden]
region = "northeurope"
key = "{KEYS['hidden']}"
resource_id = "{rid('hidden')}"
arm_readable = false

[accounts.cusrc]
region = "eastus"
key = "{KEYS['cusrc']}"
resource_id = "{rid('cusrc')}"
deployments = {{ "gpt41-e" = "gpt-4.1", "te3l-e" = "text-embedding-3-large" }}
model_deployments = {{ "gpt-4.1" = "gpt41-e", "text-embedding-3-large" = "te3l-e" }}
[[accounts.cusrc.analyzers]]
analyzer_id = "invoice"
base_analyzer_id = "prebuilt-document"
models = {{ completion = "gpt-4.1", embedding = "text-embedding-3-large" }}
field_schema = {{ name = "invoice", fields = {{ total = {{ type = "number" }} }} }}

[accounts.cugood]
region = "westus2"
key = "{KEYS['cugood']}"
resource_id = "{rid('cugood')}"
deployments = {{ "gpt41-g" = "gpt-4.1", "te3l-g" = {{ model = "text-embedding-3-large", version = "1", capacity = 120 }} }}
model_deployments = {{ "gpt-4.1" = "gpt41-g", "text-embedding-3-large" = "te3l-g" }}

# /defaults still names an embedding deployment that was deleted: only Resource Manager knows
[accounts.cubad]
region = "swedencentral"
key = "{KEYS['cubad']}"
resource_id = "{rid('cubad')}"
deployments = {{ "gpt41-b" = "gpt-4.1", "te3s-b" = "text-embedding-3-small" }}
model_deployments = {{ "gpt-4.1" = "gpt41-b", "text-embedding-3-large" = "te3l-b" }}
"""

cp_emulator, emu = emulator_fixtures(CONFIG, "cp_emulator")


def resource(name: str, family: str = "document-intelligence", api: str = "2024-11-30", extra: str = "") -> str:
    return textwrap.dedent(f"""
        [resources.{name}]
        family = "{family}"
        resource_id = "{rid(name)}"
        api_version = "{api}"
        key_env = "KEY_{name.upper()}"
        """) + textwrap.dedent(extra)


def write_spec(tmp_path: Path, emu: Emu, body: str, *, control_plane: str | None = None) -> Path:
    cp = control_plane if control_plane is not None else f'management_url = "{emu.url}"\ntoken_env = "ARM_TOKEN"\n'
    path = tmp_path / "dr.toml"
    path.write_text("version = 1\n[control_plane]\n" + cp + textwrap.dedent(body), encoding="utf-8")
    return path


DI_RULE = """
[[replicate]]
name = "docs"
source = "cmk"
targets = ["mmk"]
models = ["invoice"]
"""


def test_downgrade_comes_from_the_live_key_source_and_endpoints_from_resource_manager(tmp_path, emu, drplan):
    write_spec(tmp_path, emu, resource("cmk") + resource("mmk") + DI_RULE)
    r = drplan("plan", "dr.toml", "-o", "plan.json", env=ENV)
    assert r.code == 1, r.text  # the rule does not allow the downgrade the live keySource implies
    plan = read_json(tmp_path / "plan.json")
    change = plan["changes"][0]
    assert change["flags"]["encryption_downgrade"] and "encryption downgrade refused" in change["errors"][0]
    facts = plan["resources"]["cmk"]["facts"]
    assert facts["encryption"]["value"] == "customer-managed" and facts["encryption"]["from"] == "live"
    assert facts["encryption"]["key_source"] == "Microsoft.KeyVault" and facts["encryption"]["key_vault_key"]
    assert facts["encryption"]["read_at"].endswith("Z")
    assert facts["endpoint"] == {"value": emu.endpoint("cmk"), "from": "live",
                                 "read_at": facts["encryption"]["read_at"]}
    assert plan["resources"]["mmk"]["region"] == "westus2" and plan["resources"]["mmk"]["facts"]["region"]["from"] == "live"
    assert "live" in r.out and "Microsoft.KeyVault" in r.out  # the human plan shows the provenance

    # Allowed: the plan applies against the endpoints Resource Manager gave (the spec names none).
    (tmp_path / "dr.toml").write_text((tmp_path / "dr.toml").read_text() + "allow_encryption_downgrade = true\n")
    r = drplan("plan", "dr.toml", "-o", "plan.json", env=ENV)
    assert r.code == 0, r.text
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 0, r.text
    r_models = emu.http.get(emu.url_of("mmk", "documentintelligence/documentModels/invoice?api-version=2024-11-30"),
                            headers={"Ocp-Apim-Subscription-Key": KEYS["mmk"]})
    assert r_models.status_code == 200
    for text in (r.text, (tmp_path / "plan.json").read_text(), (tmp_path / "drplan.state.json").read_text()):
        assert TOKEN not in text


def test_a_spec_that_disagrees_with_the_account_is_a_plan_error_naming_both(tmp_path, emu, drplan):
    write_spec(tmp_path, emu, resource("cmk", extra='encryption = "microsoft-managed"\nregion = "westus"\n')
               + resource("mmk") + DI_RULE.replace('["invoice"]', '["invoice"]\nallow_encryption_downgrade = true'))
    r = drplan("plan", "dr.toml", "-o", "plan.json", env=ENV)
    assert r.code == 1
    errors = read_json(tmp_path / "plan.json")["errors"]
    enc = next(e for e in errors if "resources.cmk.encryption" in e)
    assert "microsoft-managed" in enc and "customer-managed key" in enc and "Microsoft.KeyVault" in enc
    region = next(e for e in errors if "resources.cmk.region" in e)
    assert "'westus'" in region and "'eastus'" in region


def test_403_names_the_role_and_the_resource_and_the_plan_goes_on_from_the_spec(tmp_path, emu, drplan):
    hidden = resource("hidden", extra=f'endpoint = "{emu.endpoint("hidden")}"\nregion = "northeurope"\n')
    write_spec(tmp_path, emu, resource("cmk") + hidden + DI_RULE.replace('["mmk"]', '["hidden"]').replace(
        '["invoice"]', '["invoice"]\nallow_encryption_downgrade = true'))
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--json", env=ENV)
    assert r.code == 0, r.text
    plan = read_json(tmp_path / "plan.json")
    warning = next(w for w in plan["warnings"] if w.startswith("hidden:"))
    assert "Reader role" in warning and rid("hidden") in warning and "403 AuthorizationFailed" in warning
    assert plan["resources"]["hidden"]["control_plane"]["read"] is False
    assert plan["resources"]["hidden"]["facts"]["encryption"] == {"value": "microsoft-managed", "from": "default"}
    assert plan["resources"]["cmk"]["control_plane"]["read"] is True
    assert TOKEN not in r.text  # --json events included


def test_a_throttled_read_is_retried_after_retry_after(tmp_path, emu, drplan):
    write_spec(tmp_path, emu, resource("cmk") + resource("mmk") + DI_RULE)
    emu.admin("POST", "management/throttle", {"count": 2, "retry_after": 0})
    r = drplan("plan", "dr.toml", "-o", "plan.json", env=ENV)
    plan = read_json(tmp_path / "plan.json")
    assert all(plan["resources"][n]["control_plane"]["read"] for n in ("cmk", "mmk")), r.text
    throttled = [e for e in emu.admin("GET", "requests") if e["route"].startswith("arm:")
                 and e["status"] == 429]
    assert len(throttled) == 2


def test_a_wrong_resource_id_names_the_field(tmp_path, emu, drplan):
    body = resource("cmk") + resource("mmk", extra="").replace(rid("mmk"), rid("mmk-typo")) + DI_RULE
    write_spec(tmp_path, emu, body)
    r = drplan("plan", "dr.toml", env=ENV)
    assert r.code == 1
    assert "resources.mmk.resource_id" in r.err and "404 ResourceNotFound" in r.err and "Traceback" not in r.err


def test_control_plane_off_warns_and_plans_from_the_spec(tmp_path, emu, drplan):
    spec = (resource("cmk", extra=f'endpoint = "{emu.endpoint("cmk")}"\nregion = "eastus"\n'
                     'encryption = "customer-managed"\n')
            + resource("mmk", extra=f'endpoint = "{emu.endpoint("mmk")}"\nregion = "westus2"\ncontrol_plane = false\n')
            + DI_RULE.replace('["invoice"]', '["invoice"]\nallow_encryption_downgrade = true'))
    write_spec(tmp_path, emu, spec)
    r = drplan("plan", "dr.toml", "-o", "plan.json", env=ENV)
    assert r.code == 0, r.text
    plan = read_json(tmp_path / "plan.json")
    assert plan["resources"]["cmk"]["control_plane"]["read"] is True
    mmk = plan["resources"]["mmk"]
    assert mmk["control_plane"] == {"read": False, "reason": "control_plane = false on the resource"}
    assert mmk["facts"]["encryption"]["from"] == "default"
    assert any(w.startswith("mmk: not verified") and "encryption (assumed microsoft-managed)" in w
               for w in plan["warnings"])
    assert plan["changes"][0]["flags"]["encryption_downgrade"]

    r = drplan("plan", "dr.toml", "-o", "plan.json", "--no-control-plane", env={k: v for k, v in ENV.items()
                                                                              if k != "ARM_TOKEN"} | {"ARM_TOKEN": "x"})
    assert r.code == 0, r.text
    plan = read_json(tmp_path / "plan.json")
    assert not any(b["control_plane"]["read"] for b in plan["resources"].values())
    assert sum("--no-control-plane" in w for w in plan["warnings"]) == 2
    before = emu.counters()["requests"].get("cmk", {}).get("arm:accounts:get", 0)
    drplan("plan", "dr.toml", "--no-control-plane", env=ENV)
    assert emu.counters()["requests"].get("cmk", {}).get("arm:accounts:get", 0) == before


def test_a_target_without_the_embedding_deployment_is_a_plan_error_and_nothing_is_applied(tmp_path, emu, drplan):
    cu = 'copy_flow = "grant"\n'
    spec = (resource("cusrc", "content-understanding", "2025-11-01", cu)
            + resource("cugood", "content-understanding", "2025-11-01", cu)
            + resource("cubad", "content-understanding", "2025-11-01", cu) + """
        [[replicate]]
        name = "cu"
        source = "cusrc"
        targets = ["cugood", "cubad"]
        analyzers = ["invoice"]
        """)
    write_spec(tmp_path, emu, spec)
    r = drplan("plan", "dr.toml", "-o", "plan.json", env=ENV)
    assert r.code == 1, r.text
    plan = read_json(tmp_path / "plan.json")
    by = {c["address"]: c for c in plan["changes"]}
    good = by["cu/cugood/analyzer/invoice"]
    assert good["errors"] == [] and good["deployments"]["embedding"] == {
        "model": "text-embedding-3-large", "deployment": "te3l-g", "via": "target-defaults",
        "target_model": "text-embedding-3-large", "exists": True, "checked": "live", "target_version": "1"}
    bad = by["cu/cubad/analyzer/invoice"]
    assert bad["deployments"]["embedding"]["exists"] is False
    assert any("no deployment 'te3l-b'" in e and "text-embedding-3-large" in e and "te3s-b (text-embedding-3-small)"
               in e for e in bad["errors"])
    deployments = plan["resources"]["cugood"]["facts"]["deployments"]
    assert deployments["from"] == "live" and [d["name"] for d in deployments["value"]] == ["gpt41-g", "te3l-g"]

    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 1
    counts = emu.counters()["requests"]
    assert not any(route.startswith("cu:") and route not in ("cu:analyzers:list", "cu:analyzers:get",
                                                              "cu:defaults:get")
                   for acct in counts.values() for route in acct), counts


def test_a_defaults_change_is_planned_only_with_a_deployment_that_exists(tmp_path, emu, drplan):
    cu = 'copy_flow = "grant"\n'
    spec = (resource("cusrc", "content-understanding", "2025-11-01", cu)
            + resource("cugood", "content-understanding", "2025-11-01", cu) + """
        [[replicate]]
        name = "cu"
        source = "cusrc"
        targets = ["cugood"]
        analyzers = ["invoice"]
        [replicate.deployments.cugood]
        embedding = "te3l-new"
        """)
    write_spec(tmp_path, emu, spec)
    r = drplan("plan", "dr.toml", "-o", "plan.json", env=ENV)
    assert r.code == 1
    by = {c["address"]: c for c in read_json(tmp_path / "plan.json")["changes"]}
    default = by["cu/cugood/model-deployment/text-embedding-3-large"]
    assert any("'te3l-new' does not exist on 'cugood'" in e for e in default["errors"])

    emu.admin("PUT", "accounts/cugood/deployments/te3l-new", {"model": "text-embedding-3-large"})
    r = drplan("plan", "dr.toml", "-o", "plan.json", env=ENV)
    assert r.code == 0, r.text
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 0, r.text
    got = emu.http.get(emu.url_of("cugood", "contentunderstanding/analyzers/invoice?api-version=2025-11-01"),
                       headers={"Ocp-Apim-Subscription-Key": KEYS["cugood"]})
    assert got.status_code == 200 and got.json()["status"] == "ready"
