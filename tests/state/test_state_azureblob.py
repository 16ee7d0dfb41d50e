"""The Azure Blob backend's own edges (the shared behaviour is in test_backend_conformance.py): the one mapping of
azure-core exceptions, credentials from the environment only and always redacted, Entra ID, the heartbeat."""

from __future__ import annotations

import binascii
import time

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from drplan.errors import SpecError, StateConflictError, StateError, StateLockedError
from drplan.redact import redact
from drplan.state.backends import azureblob
from drplan.state.backends.azureblob import AzureBlobBackend, _Heartbeat, _translate

URL = "https://contosodr.blob.core.windows.net"
CONFIG = {"backend": "azureblob", "account_url": URL, "container": "drplan", "blob": "dr.state.json",
          "lease_seconds": 15}


def http_error(cls, status: int, code: str, message: str = "The service said no.\nRequestId:1\nTime:now"):
    exc = cls(message=message)
    exc.status_code = status
    exc.error_code = code
    return exc


@pytest.mark.parametrize("exc, cls, text", [
    (http_error(HttpResponseError, 403, "AuthenticationFailed"), StateError,
     "access denied (403 AuthenticationFailed: The service said no); check"),
    (http_error(ClientAuthenticationError, 403, "AuthorizationFailure"), StateError, "check the account key in $K"),
    (http_error(ResourceNotFoundError, 404, "ContainerNotFound"), azureblob._NotFound, "404 ContainerNotFound"),
    (http_error(ResourceExistsError, 409, "LeaseAlreadyPresent"), StateLockedError, "locked by another run"),
    (http_error(HttpResponseError, 412, "LeaseIdMissing"), StateLockedError, "locked by another run"),
    (http_error(HttpResponseError, 412, "LeaseIdMismatchWithBlobOperation"), StateConflictError,
     "no longer holds the state lock"),
    (http_error(HttpResponseError, 412, "LeaseNotPresentWithBlobOperation"), StateConflictError,
     "no longer holds the state lock"),
    (http_error(ResourceModifiedError, 412, "ConditionNotMet"), StateConflictError, "changed since this run read it"),
    (http_error(ResourceExistsError, 409, "BlobAlreadyExists"), StateConflictError, "changed since this run read it"),
    (http_error(HttpResponseError, 500, "InternalError"), StateError, "500 InternalError: The service said no"),
    (ServiceRequestError("Connection refused"), StateError, "cannot reach the storage account"),
    (ServiceResponseError("Connection reset"), StateError, "cannot reach the storage account"),
    (ClientAuthenticationError("Incorrect padding"), StateError, "credentials are not usable (Incorrect padding)"),
    (binascii.Error("Incorrect padding"), StateError, "credentials are not usable"),
    (ValueError("Unable to determine account name for shared key credential."), StateError, "not usable"),
])
def test_every_azure_exception_is_translated_to_one_readable_error(exc, cls, text):
    err = _translate(exc, "read the state", "URL/c/b", "the account key in $K")
    assert type(err) is cls or isinstance(err, cls)
    assert str(err).startswith("URL/c/b: cannot read the state")
    assert text in str(err)
    assert "\n" not in str(err) and "RequestId" not in str(err)


def test_an_entra_id_token_failure_says_how_to_sign_in(monkeypatch):
    from azure.identity import CredentialUnavailableError

    class NoToken:
        def get_token(self, *scopes, **kw):
            raise CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token from the included "
                                             "credentials.\nAttempted credentials: ...")

        def get_token_info(self, *scopes, **kw):
            return self.get_token(*scopes)

    monkeypatch.setattr("azure.identity.DefaultAzureCredential", NoToken)
    t = time.monotonic()
    with pytest.raises(StateError) as err:
        AzureBlobBackend.from_config(CONFIG)  # neither *_env: Entra ID, asked for a token at once
    assert time.monotonic() - t < 2  # not retried like a network error
    msg = str(err.value)
    assert msg.startswith(f"{URL}/drplan/dr.state.json: cannot sign in to Azure Storage: could not "
                          "get an Entra ID token (DefaultAzureCredential failed to retrieve a token")
    assert "az login" in msg and "\n" not in msg


def test_an_entra_id_identity_is_used_when_no_variable_is_named(monkeypatch):
    class Token:
        def get_token(self, *scopes, **kw):
            from azure.core.credentials import AccessToken

            assert scopes == ("https://storage.azure.com/.default",)
            return AccessToken("token-value-for-tests", int(time.time()) + 3600)

    monkeypatch.setattr("azure.identity.DefaultAzureCredential", Token)
    backend = AzureBlobBackend.from_config(CONFIG)
    assert isinstance(backend._credential, Token) and "Entra ID" in backend._auth


def test_credentials_come_from_the_named_variables_and_are_redacted(monkeypatch):
    key = "bXktdmVyeS1zZWNyZXQtc3RvcmFnZS1rZXktZm9yLXRlc3Rz"
    monkeypatch.setenv("DR_STATE_CONN", f"DefaultEndpointsProtocol=https;AccountName=contosodr;AccountKey={key};"
                       "EndpointSuffix=core.windows.net")
    AzureBlobBackend.from_config({**CONFIG, "connection_string_env": "DR_STATE_CONN"})
    assert key not in redact(f"oops AccountKey={key} and the key alone: {key}")  # a part of it is masked too
    monkeypatch.setenv("DR_STATE_KEY", "YW5vdGhlci1zZWNyZXQta2V5LWZvci10ZXN0cw==")
    b = AzureBlobBackend.from_config({**CONFIG, "account_key_env": "DR_STATE_KEY"})
    assert "YW5vdGhlci1zZWNyZXQta2V5LWZvci10ZXN0cw==" not in redact("YW5vdGhlci1zZWNyZXQta2V5LWZvci10ZXN0cw==")
    assert b._auth == "the account key in $DR_STATE_KEY"
    monkeypatch.delenv("DR_STATE_KEY")
    with pytest.raises(SpecError, match="state.account_key_env: environment variable DR_STATE_KEY is not set"):
        AzureBlobBackend.from_config({**CONFIG, "account_key_env": "DR_STATE_KEY"})


def test_a_connection_string_for_another_account_is_refused(monkeypatch):
    monkeypatch.setenv("DR_STATE_CONN", "DefaultEndpointsProtocol=https;AccountName=someoneelse;"
                       "AccountKey=c29tZW9uZS1lbHNlcy1rZXk=;EndpointSuffix=core.windows.net")
    with pytest.raises(StateError, match="is for https://someoneelse.blob.core.windows.net, not state.account_url"):
        AzureBlobBackend.from_config({**CONFIG, "connection_string_env": "DR_STATE_CONN"})


def test_lease_bounds():
    with pytest.raises(SpecError, match="lease_seconds"):
        AzureBlobBackend(URL, "c", "b", credential="a2V5", lease_seconds=14)
    with pytest.raises(SpecError, match="lease_seconds"):
        AzureBlobBackend(URL, "c", "b", credential="a2V5", lease_seconds=61)


class FakeLease:
    def __init__(self, failures: list[BaseException | None]) -> None:
        self.failures = failures
        self.renewals = 0

    def renew(self) -> None:
        self.renewals += 1
        if self.failures:
            failure = self.failures.pop(0)
            if failure is not None:
                raise failure


def test_heartbeat_rides_out_network_errors_and_notices_a_lost_lease():
    lease = FakeLease([ServiceRequestError("net down"), None,
                       http_error(ResourceExistsError, 409, "LeaseIdMismatchWithLeaseOperation")])
    beat = _Heartbeat(lease, interval=0.01)
    beat.start()
    beat.join(5)
    assert not beat.is_alive() and lease.renewals == 3
    assert beat.lost and "409 LeaseIdMismatchWithLeaseOperation" in beat.lost

    steady = FakeLease([])
    beat = _Heartbeat(steady, interval=0.01)
    beat.start()
    time.sleep(0.1)
    beat.stop()
    assert not beat.is_alive() and steady.renewals >= 3 and beat.lost is None


def test_a_write_after_the_heartbeat_lost_the_lease_is_refused_without_a_request():
    backend = AzureBlobBackend(URL, "c", "b", credential="a2V5")
    beat = _Heartbeat(FakeLease([]), interval=60)
    beat.lost = "renewing its lease was refused: 409 LeaseIdMismatchWithLeaseOperation"
    backend._heartbeat = beat
    with pytest.raises(StateConflictError, match="lost the state lock"):
        backend.write(b"{}", '"etag"')



def test_the_loser_of_a_lock_race_names_the_holder(monkeypatch):
    """Issue 19: the loser may look in the instant the winner has written its name but not yet taken the lease (no
    holder), or while a holder clears its name (leased, unknown); it looks again and names the winner."""
    import contextlib

    from drplan.state.backends.base import LockInfo

    monkeypatch.setattr(azureblob.time, "sleep", lambda s: None)
    backend = AzureBlobBackend.__new__(AzureBlobBackend)
    backend.account_url, backend.container, backend.blob_name = "https://acct.blob.core.windows.net", "c", "s.json"
    backend.lease_seconds, backend.poll_interval = 15, 0.01
    backend._azure = lambda doing: contextlib.nullcontext()

    class Blob:
        def set_blob_metadata(self, *a, **kw):
            raise azureblob._LeaseHeld("the state is locked by another run")

    backend._blob = Blob()
    unknown = LockInfo(id="unknown", holder="unknown", host="unknown", pid=0, operation="unknown", created="unknown")
    winner = LockInfo(id="L-1", holder="ann", host="ci-7", pid=42, operation="apply", created="now")
    backend.read_lock = iter([None, unknown, None, unknown, winner] + [winner] * 50).__next__
    with pytest.raises(StateLockedError) as err:
        backend.lock("apply")
    assert "ann@ci-7 (pid 42)" in str(err.value) and "drplan state unlock L-1" in str(err.value)
