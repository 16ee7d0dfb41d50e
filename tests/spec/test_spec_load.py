from __future__ import annotations

import pytest

from drplan.errors import SpecError
from drplan.spec.load import load_spec
from drplan.spec.model import Encryption, Family

GOOD = """
version = 1

[state]
path = "state/dr.state.json"

[resources.primary]
family = "document-intelligence"
endpoint = "https://primary.cognitiveservices.azure.com/"
region = "eastus"
resource_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/primary"
api_version = "2024-11-30"
key_env = "PRIMARY_KEY"
encryption = "customer-managed"

[resources.west]
family = "document-intelligence"
endpoint = "https://west.cognitiveservices.azure.com"
region = "westus"
resource_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/west"
api_version = "2024-11-30"
key_env = "WEST_KEY"

[[replicate]]
name = "invoices"
source = "primary"
targets = ["west"]
models = ["invoice-*"]
classifiers = ["router"]
rename = { "invoice-2024" = "invoice-2024-dr" }
"""


def test_valid_spec_loads(write_spec, monkeypatch, tmp_path):
    monkeypatch.setenv("PRIMARY_KEY", "k1-secret")
    monkeypatch.setenv("WEST_KEY", "k2-secret")
    spec = load_spec(write_spec(GOOD))
    assert spec.resources["primary"].encryption is Encryption.CUSTOMER_MANAGED
    assert spec.resources["west"].encryption is Encryption.MICROSOFT_MANAGED
    assert spec.resources["primary"].endpoint == "https://primary.cognitiveservices.azure.com"
    assert spec.resources["primary"].family is Family.DOCUMENT_INTELLIGENCE
    assert spec.rules[0].rename == {"invoice-2024": "invoice-2024-dr"}
    assert spec.state.path == (tmp_path / "state" / "dr.state.json").resolve()
    assert spec.digest.startswith("sha256:")


def _err(write_spec, text, **env) -> str:
    path = write_spec(text)
    with pytest.raises(SpecError) as info:
        load_spec(path, check_env=not env.get("no_env"))
    msg = str(info.value)
    assert str(path) in msg  # every error names the file
    return msg


def test_unknown_target_names_the_toml_path(write_spec):
    msg = _err(write_spec, GOOD.replace('targets = ["west"]', 'targets = ["west", "westus3"]'), no_env=True)
    assert "replicate[0].targets[1]: unknown resource 'westus3'" in msg
    assert "defined resources: primary, west" in msg


def test_self_copy_rejected(write_spec):
    msg = _err(write_spec, GOOD.replace('targets = ["west"]', 'targets = ["primary"]'), no_env=True)
    assert "cannot copy a resource onto itself" in msg


def test_classifier_copy_needs_2024_11_30(write_spec):
    text = GOOD.replace('api_version = "2024-11-30"\nkey_env = "WEST_KEY"', 'api_version = "2024-02-29-preview"\nkey_env = "WEST_KEY"')
    msg = _err(write_spec, text, no_env=True)
    assert "replicate[0].classifiers: classifier copy needs api_version 2024-11-30" in msg
    assert "'west' uses 2024-02-29-preview" in msg


def test_unsupported_api_version(write_spec):
    msg = _err(write_spec, GOOD.replace('api_version = "2024-11-30"', 'api_version = "2023-07-31"', 1), no_env=True)
    assert "resources.primary.api_version: '2023-07-31' is not supported for document-intelligence" in msg


def test_missing_env_var_named(write_spec, monkeypatch):
    monkeypatch.setenv("PRIMARY_KEY", "k1-secret")
    msg = _err(write_spec, GOOD)
    assert "resources.west.key_env: environment variable WEST_KEY is not set" in msg


def test_unknown_key_and_bad_enum(write_spec):
    text = GOOD.replace('encryption = "customer-managed"', 'encryption = "cmk"\ncolour = "blue"')
    msg = _err(write_spec, text, no_env=True)
    assert "resources.primary: unknown key(s) 'colour'" in msg
    assert "resources.primary.encryption: 'cmk' is not one of: microsoft-managed, customer-managed" in msg


def test_invalid_toml(write_spec):
    msg = _err(write_spec, "version = 1\n[resources\n", no_env=True)
    assert "invalid TOML" in msg


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.toml")


def test_rule_selecting_nothing(write_spec):
    text = GOOD.replace('models = ["invoice-*"]\nclassifiers = ["router"]\n', "")
    msg = _err(write_spec, text, no_env=True)
    assert "replicate[0]: selects nothing" in msg


def test_duplicate_arm_id(write_spec):
    text = GOOD.replace("accounts/west", "accounts/primary")
    msg = _err(write_spec, text, no_env=True)
    assert "resources.west.resource_id: same ARM id as resources.primary" in msg


def test_examples_validate():
    """Every spec in examples/ validates (keys are not needed for validate)."""
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    specs = sorted(examples.glob("*.toml"))
    assert specs, "examples/ must hold at least one spec"
    for path in specs:
        load_spec(path, check_env=False)
