"""Spec keys of issue 15: endpoint, region and encryption optional next to a resource_id (assertions then),
control_plane = false / [control_plane] enabled = false needing them back, and token_env checked like key_env."""

from __future__ import annotations

import pytest

from drplan.errors import SpecError
from drplan.spec.load import load_spec

RID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/{}"


def write(tmp_path, resource_extra: str = "", top: str = ""):
    text = f"""version = 1
{top}
[resources.src]
family = "document-intelligence"
resource_id = "{RID.format('src')}"
api_version = "2024-11-30"
key_env = "K_SRC"
{resource_extra}

[resources.dst]
family = "document-intelligence"
endpoint = "https://dst.cognitiveservices.azure.com"
region = "westus2"
resource_id = "{RID.format('dst')}"
api_version = "2024-11-30"
key_env = "K_DST"
encryption = "customer-managed"

[[replicate]]
name = "r"
source = "src"
targets = ["dst"]
models = ["*"]
"""
    path = tmp_path / "dr.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_resource_id_is_enough_and_the_spec_values_become_assertions(tmp_path):
    spec = load_spec(write(tmp_path), check_env=False)
    src, dst = spec.resources["src"], spec.resources["dst"]
    assert (src.endpoint, src.region, src.encryption_spec, src.control_plane) == ("", "", None, True)
    assert dst.encryption_spec is not None and dst.encryption_spec.value == "customer-managed"
    assert spec.control_plane.enabled and spec.control_plane.management_url is None


def test_without_the_control_plane_endpoint_and_region_are_required(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, "control_plane = false"), check_env=False)
    assert "resources.src.endpoint: required with control_plane = false" in str(err.value)
    assert "resources.src.region" in str(err.value)
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, top="[control_plane]\nenabled = false\n"), check_env=False)
    assert "[control_plane] enabled = false" in str(err.value)


def test_token_env_must_be_set_when_keys_are_needed(tmp_path, monkeypatch):
    monkeypatch.setenv("K_SRC", "a")
    monkeypatch.setenv("K_DST", "b")
    monkeypatch.delenv("NO_SUCH_ARM_TOKEN", raising=False)
    path = write(tmp_path, top='[control_plane]\nmanagement_url = "https://management.azure.com/"\n'
                                'token_env = "NO_SUCH_ARM_TOKEN"\n')
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert "control_plane.token_env: environment variable NO_SUCH_ARM_TOKEN is not set" in str(err.value)
    assert load_spec(path, check_env=False).control_plane.management_url == "https://management.azure.com"
