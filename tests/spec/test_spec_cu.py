"""Content Understanding spec checks: selectors, copy flows, per-target deployment overrides, token keys."""

from __future__ import annotations

import pytest

from drplan.errors import SpecError
from drplan.spec.load import load_spec
from drplan.spec.model import Family

CU = """
version = 1

[resources.src]
family = "content-understanding"
endpoint = "https://src.services.ai.azure.com"
region = "eastus"
resource_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/src"
api_version = "2025-11-01"
key_env = "SRC_KEY"
copy_flow = "token"

[resources.west]
family = "content-understanding"
endpoint = "https://west.services.ai.azure.com"
region = "westus"
resource_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/west"
api_version = "2025-11-01"
key_env = "WEST_KEY"
copy_flow = "token"

[[replicate]]
name = "cu"
source = "src"
targets = ["west"]
analyzers = ["inv-*"]
encryption_key_env = "CU_TOKEN_KEY"

[replicate.deployments.west]
completion = "gpt41-west"
"""


def _err(write_spec, text) -> str:
    path = write_spec(text)
    with pytest.raises(SpecError) as info:
        load_spec(path, check_env=False)
    return str(info.value)


def test_cu_spec_loads(write_spec, monkeypatch):
    for env in ("SRC_KEY", "WEST_KEY", "CU_TOKEN_KEY"):
        monkeypatch.setenv(env, "secret-" + env)
    spec = load_spec(write_spec(CU))
    assert spec.resources["src"].family is Family.CONTENT_UNDERSTANDING
    assert spec.resources["src"].copy_flow == "token"
    assert spec.resources["src"].public()["copy_flow"] == "token"
    rule = spec.rules[0]
    assert rule.analyzers == ("inv-*",)
    assert rule.deployments == {"west": {"completion": "gpt41-west"}}
    assert rule.encryption_key_env == rule.decryption_key_env == "CU_TOKEN_KEY"


def test_token_key_env_must_be_set(write_spec, monkeypatch):
    for env in ("SRC_KEY", "WEST_KEY"):
        monkeypatch.setenv(env, "k")
    path = write_spec(CU)
    with pytest.raises(SpecError, match=r"replicate\[0\]\.encryption_key_env: environment variable CU_TOKEN_KEY is not set"):
        load_spec(path)


def test_override_for_a_resource_that_is_not_a_target(write_spec):
    msg = _err(write_spec, CU.replace("[replicate.deployments.west]", "[replicate.deployments.north]"))
    assert "replicate[0].deployments.north: 'north' is not one of this rule's targets" in msg


def test_flows_must_agree_and_keys_need_the_token_flow(write_spec):
    msg = _err(write_spec, CU.replace('copy_flow = "token"', 'copy_flow = "grant"', 1))
    assert "replicate[0].targets[0]: 'src' uses copy_flow = 'grant' but 'west' uses 'token'" in msg
    assert "replicate[0].encryption_key_env: only the token copy flow encrypts its token" in msg


def test_selectors_must_fit_the_family(write_spec):
    msg = _err(write_spec, CU.replace('analyzers = ["inv-*"]', 'models = ["inv-*"]'))
    assert "replicate[0].models: the source 'src' is Content Understanding, which selects with analyzers" in msg
    assert "replicate[0]: selects nothing; add analyzers = [...]" in msg


def test_copy_flow_only_on_cu_and_cross_family_refused(write_spec):
    text = CU.replace('family = "content-understanding"\nendpoint = "https://west',
                      'family = "document-intelligence"\nendpoint = "https://west').replace(
        'api_version = "2025-11-01"\nkey_env = "WEST_KEY"', 'api_version = "2024-11-30"\nkey_env = "WEST_KEY"')
    msg = _err(write_spec, text)
    assert "resources.west.copy_flow: only Content Understanding resources choose a copy flow" in msg
    assert "cannot copy from 'src' (content-understanding 2025-11-01) to 'west' (document-intelligence" in msg


def test_preview_api_version_cannot_copy(write_spec):
    msg = _err(write_spec, CU.replace('api_version = "2025-11-01"', 'api_version = "2025-05-01-preview"', 1))
    assert "resources.src.api_version: '2025-05-01-preview' is not supported for content-understanding" in msg


def test_entra_auth_needs_no_key_and_plans_name_no_key_env(write_spec, monkeypatch):
    monkeypatch.setenv("CU_TOKEN_KEY", "k")
    text = CU.replace('key_env = "SRC_KEY"', 'auth = "entra"').replace('key_env = "WEST_KEY"', 'auth = "entra"')
    spec = load_spec(write_spec(text))
    assert spec.resources["src"].auth == "entra"
    public = spec.resources["src"].public()
    assert public["auth"] == "entra" and "key_env" not in public


def test_auth_and_key_env_must_agree(write_spec):
    msg = _err(write_spec, CU.replace('key_env = "SRC_KEY"', 'key_env = "SRC_KEY"\nauth = "entra"')
               .replace('key_env = "WEST_KEY"\n', ''))
    assert "resources.src.key_env: auth = \"entra\" uses an Entra ID token, not a key; remove key_env" in msg
    assert "resources.west: key_env is required" in msg
