"""The spec's [state] section (local path, or azureblob account/container/blob with credentials by env var name) and
what a plan records about it: where the state is, never a secret."""

from __future__ import annotations

import pytest

from drplan.core import _plan_state_block, state_manager
from drplan.errors import SpecError
from drplan.schemas import load_schema
from drplan.spec.load import load_spec
from drplan.state.backends.azureblob import AzureBlobBackend
from drplan.state.backends.local import LocalBackend

REST = """
[resources.src]
family = "document-intelligence"
endpoint = "https://src.cognitiveservices.azure.com"
region = "eastus"
resource_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/src"
api_version = "2024-11-30"
key_env = "SRC_KEY"

[resources.dst]
family = "document-intelligence"
endpoint = "https://dst.cognitiveservices.azure.com"
region = "westus"
resource_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/dst"
api_version = "2024-11-30"
key_env = "DST_KEY"

[[replicate]]
name = "r"
source = "src"
targets = ["dst"]
models = ["*"]
"""

BLOB = """
[state]
backend = "azureblob"
account_url = "https://contosodr.blob.core.windows.net/"
container = "drplan-state"
blob = "prod/dr.state.json"
connection_string_env = "DR_STATE_CONN"
lease_seconds = 15
"""


def plan_state_validator():
    import jsonschema

    return jsonschema.Draft7Validator(load_schema("plan.schema.json")["properties"]["state"])


def spec_text(state: str) -> str:
    return "version = 1\n" + state + REST


def load(write_spec, state: str, check_env: bool = False):
    return load_spec(write_spec(spec_text(state)), check_env=check_env)


def error(write_spec, state: str, check_env: bool = False) -> str:
    with pytest.raises(SpecError) as info:
        load(write_spec, state, check_env)
    return str(info.value)


def test_azureblob_state_loads_and_the_plan_records_no_secret(write_spec, monkeypatch):
    spec = load(write_spec, BLOB)
    st = spec.state
    assert (st.backend, st.account_url, st.container, st.blob, st.lease_seconds) == (
        "azureblob", "https://contosodr.blob.core.windows.net", "drplan-state", "prod/dr.state.json", 15)
    assert st.path is None
    block = _plan_state_block(st)
    assert block == {"backend": "azureblob", "account_url": "https://contosodr.blob.core.windows.net",
                     "container": "drplan-state", "blob": "prod/dr.state.json",
                     "connection_string_env": "DR_STATE_CONN", "lease_seconds": 15}
    plan_state = {**block, "lineage": None, "serial": 0}
    assert list(plan_state_validator().iter_errors(plan_state)) == []
    assert list(plan_state_validator().iter_errors({**plan_state, "account_key": "x"}))  # no room for a secret
    # The plan's block is all apply needs to reach the same blob (the secret comes from the env at apply time).
    monkeypatch.setenv("DR_STATE_CONN", "DefaultEndpointsProtocol=https;AccountName=contosodr;AccountKey="
                       "c2VjcmV0LWtleS1vZi10aGUtdGVzdA==;EndpointSuffix=core.windows.net")
    backend = state_manager(plan_state).backend
    assert isinstance(backend, AzureBlobBackend)
    assert backend.describe() == "https://contosodr.blob.core.windows.net/drplan-state/prod/dr.state.json"
    assert backend.lease_seconds == 15


def test_local_state_is_unchanged(write_spec, tmp_path):
    spec = load(write_spec, '[state]\nbackend = "local"\npath = "s/dr.state.json"\n')
    assert spec.state.backend == "local" and spec.state.path == (tmp_path / "s" / "dr.state.json").resolve()
    assert _plan_state_block(spec.state) == {"backend": "local", "path": "s/dr.state.json"}
    assert list(plan_state_validator().iter_errors({**_plan_state_block(spec.state), "lineage": None,
                                                    "serial": 0})) == []
    assert isinstance(state_manager(spec.state).backend, LocalBackend)
    default = load(write_spec, "")
    assert default.state.path == (tmp_path / "drplan.state.json").resolve()


def test_azureblob_needs_its_location(write_spec):
    msg = error(write_spec, '[state]\nbackend = "azureblob"\ncontainer = "c1c"\n')
    assert "state: 'account_url' is required" in msg and "state: 'blob' is required" in msg


@pytest.mark.parametrize("extra, expected", [
    ('path = "x.json"', "state.path: only for backend = \"local\""),
    ('account_key_env = "K"', "set connection_string_env or account_key_env, not both"),
    ("lease_seconds = 10", "state.lease_seconds: 10 is less than the minimum of 15"),
    ("lease_seconds = 0", "state.lease_seconds: 0 is less than the minimum of 15"),
    ('container = "Bad_Name"', "state.container: 'Bad_Name' does not match"),
])
def test_azureblob_cross_field_errors(write_spec, extra, expected):
    key = extra.split(" =")[0]
    lines = [ln for ln in BLOB.splitlines() if not ln.startswith(key + " ")]
    assert expected in error(write_spec, "\n".join(lines) + "\n" + extra + "\n")


def test_a_sas_in_the_account_url_is_refused(write_spec):
    state = BLOB.replace("windows.net/", "windows.net/?sv=2024&sig=abc")
    assert "state.account_url" in error(write_spec, state)


def test_blob_keys_are_refused_on_a_local_state(write_spec):
    assert 'state.container: only for backend = "azureblob"' in error(
        write_spec, '[state]\npath = "s.json"\ncontainer = "abc"\n')


def test_the_credential_variable_must_be_set_when_keys_are_needed(write_spec, monkeypatch):
    monkeypatch.setenv("SRC_KEY", "k1-secret")
    monkeypatch.setenv("DST_KEY", "k2-secret")
    monkeypatch.delenv("DR_STATE_CONN", raising=False)
    msg = error(write_spec, BLOB, check_env=True)
    assert "state.connection_string_env: environment variable DR_STATE_CONN is not set" in msg
    load(write_spec, BLOB, check_env=False)  # validate needs no secret


def test_entra_id_when_no_credential_variable_is_named(write_spec):
    state = "\n".join(ln for ln in BLOB.splitlines() if "connection_string_env" not in ln) + "\n"
    spec = load(write_spec, state)
    assert "connection_string_env" not in _plan_state_block(spec.state)
    assert "account_key_env" not in _plan_state_block(spec.state)
