"""Azure Blob state backend (issue 8): the state is one block blob, locked by a lease that expires by itself.

* **Lock** = a blob lease on the state blob of ``lease_seconds`` (15-60 s, Azure's bounds for a finite lease), whose
  proposed lease id *is* the lock id. A heartbeat thread renews it every ``lease_seconds / 3`` while drplan runs; it
  is released on exit, on Ctrl-C and on SIGTERM (:class:`~drplan.state.backends.base.ExitGuard`). A run that is
  killed outright stops renewing, so its lock frees itself within ``lease_seconds`` (Terraform's azurerm backend
  takes an infinite lease, which a crash leaves behind: STYLE.md). Because the lease id is the lock id,
  ``drplan state unlock ID`` can release exactly that lease and no other: it never has to *break* a lease.
* **Lock info** (holder, host, pid, operation, time, lock id) is the blob's ``drplanlock`` metadata, written just
  before the lease is taken with If-Match on that very write, and carried over by every write (an upload replaces
  metadata). It is only believed while the blob is leased; a leftover from a crashed holder on an unleased blob means
  nothing.
* **A lease needs a blob**: taking the lock on a state that does not exist yet creates the container (if needed) and
  an empty blob, which reads as "no state yet" (``read()`` returns ``(None, etag)``).
* **Writes** are uploads with ``If-Match`` the ETag read (``If-None-Match: *`` when nothing was stored), carrying our
  lease when we hold the lock. A run that lost its lease, or read a state somebody has written since, gets
  :class:`StateConflictError` and writes nothing. They are network calls (``network_io``): the apply journal makes
  them from a worker thread, one at a time, so concurrent changes keep running while the state uploads.
* **Secrets**: the connection string / account key come from the environment variables the spec names, are
  registered with :mod:`drplan.redact` the moment they are read (every part of a connection string that is a secret
  too), and are never part of a message: azure-core exceptions are translated in exactly one place,
  :func:`_translate`, which keeps only the status, the service's error code and the first line of its message.
"""

from __future__ import annotations

import binascii
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import (
    BlobClient,
    BlobLeaseClient,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    ExponentialRetry,
)

from drplan.errors import (
    DrplanError,
    SpecError,
    StateConflictError,
    StateError,
    StateLockedError,
)
from drplan.redact import register_secret
from drplan.state.backends.base import ExitGuard, LockInfo

LEASE_MIN_SECONDS = 15  # Azure's bounds for a finite blob lease
LEASE_MAX_SECONDS = 60
METADATA_KEY = "drplanlock"

#: Service error codes that mean "the lease this request named is not (or no longer) the blob's lease".
_LEASE_LOST = frozenset({
    "LeaseIdMismatchWithBlobOperation", "LeaseIdMismatchWithLeaseOperation", "LeaseNotPresentWithBlobOperation",
    "LeaseNotPresentWithLeaseOperation", "LeaseLost", "LeaseIsBrokenAndCannotBeRenewed",
    "LeaseIsBreakingAndCannotBeAcquired", "LeaseIsBreakingAndCannotBeChanged",
})
_LEASE_HELD = frozenset({"LeaseAlreadyPresent", "LeaseIdMissing", "LeaseIsBreakingAndCannotBeAcquired"})

T = TypeVar("T")


class _NotFound(StateError):
    """The container or the blob does not exist (internal: read() and lock() turn it into "no state yet")."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class _LeaseHeld(StateLockedError):
    """Somebody else holds the lease (internal: lock() waits or names the holder)."""


class _Exists(StateConflictError):
    """A create-only request found the container or blob already there (409 ...AlreadyExists)."""


def _code(exc: HttpResponseError) -> str:
    code = getattr(exc, "error_code", None)  # set by the storage SDK from the x-ms-error-code header
    return str(getattr(code, "value", code) or "")


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return (text.strip().splitlines() or [exc.__class__.__name__])[0].rstrip(".")


def _translate(exc: BaseException, doing: str, where: str, auth: str, *, entra: bool = False) -> DrplanError:
    """The one mapping from azure-core / SDK exceptions to drplan errors. ``doing`` says what was attempted
    ("write the state"), ``auth`` how we authenticated ("the account key in $ENV"), for the hint."""
    prefix = f"{where}: cannot {doing}"
    if isinstance(exc, ClientAuthenticationError) and exc.status_code is None:  # failed before any request was sent
        if entra:
            return StateError(f"{prefix}: could not get an Entra ID token ({_first_line(exc)}); sign in (az login) "
                              "or configure a managed or workload identity, or set connection_string_env or "
                              "account_key_env")
        return StateError(f"{prefix}: the credentials are not usable ({_first_line(exc)}); check {auth}")
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        status, code = exc.status_code, _code(exc)
        detail = f"{status} {code}".strip() + f": {_first_line(exc)}"
        if status in (401, 403):
            # 403 is both "wrong key" (AuthenticationFailed) and "no permission / firewall": the service's own first
            # line says which; the hint names what to check.
            return StateError(f"{prefix}: access denied ({detail}); check {auth}")
        if isinstance(exc, ResourceNotFoundError) or status == 404:
            return _NotFound(f"{prefix}: {detail}", code or "BlobNotFound")
        if code in _LEASE_HELD:
            return _LeaseHeld(f"{prefix}: the state is locked by another run ({detail})")
        if code in _LEASE_LOST:
            return StateConflictError(
                f"{prefix}: this run no longer holds the state lock (its lease expired or was released: {detail}); "
                "nothing was written: check drplan state list, then run the command again"
            )
        if code.endswith("AlreadyExists"):
            return _Exists(
                f"{prefix}: the state changed since this run read it (another run wrote it; {detail}); nothing was "
                "written: run the command again"
            )
        if isinstance(exc, ResourceModifiedError) or code == "ConditionNotMet":
            return StateConflictError(
                f"{prefix}: the state changed since this run read it (another run wrote it; {detail}); nothing was "
                "written: run the command again"
            )
        return StateError(f"{prefix}: {detail}")
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return StateError(f"{prefix}: cannot reach the storage account ({_first_line(exc)}); check account_url and "
                          "the network")
    if isinstance(exc, (binascii.Error, ValueError, TypeError)):  # a key that is not base64, a malformed string
        return StateError(f"{prefix}: the credentials are not usable ({exc.__class__.__name__}); check {auth}")
    return StateError(f"{prefix}: {exc.__class__.__name__}: {_first_line(exc)}")


def _secret_from_env(env: str, field: str) -> str:
    value = os.environ.get(env, "")
    if not value:
        raise SpecError(f"state.{field}: environment variable {env} is not set; export the storage credential in it")
    register_secret(value)
    return value


def _register_connection_string(value: str) -> None:
    """A connection string holds secrets in some of its parts; each one must be masked on its own too."""
    register_secret(value)
    for part in value.split(";"):
        name, _, secret = part.partition("=")
        if name.strip().lower() in ("accountkey", "sharedaccesssignature") and secret:
            register_secret(secret.strip())


class AzureBlobBackend:
    """State in ``{account_url}/{container}/{blob}``; lock = a lease on that blob (module docstring)."""

    #: Every read and write is a network call (up to the SDK's timeouts and retries): async callers run writes in a
    #: worker thread (drplan.apply.journal) so they do not block the event loop. Calls are not made concurrently on
    #: one backend object; the caller keeps one writer at a time (the ETag of each write feeds the next).
    network_io = True

    def __init__(
        self,
        account_url: str,
        container: str,
        blob: str,
        *,
        connection_string: str | None = None,
        credential: Any = None,
        lease_seconds: int = LEASE_MAX_SECONDS,
        auth: str = "the storage credentials",
        poll_interval: float = 1.0,
    ) -> None:
        if not LEASE_MIN_SECONDS <= lease_seconds <= LEASE_MAX_SECONDS:
            raise SpecError(f"state.lease_seconds: {lease_seconds} is outside {LEASE_MIN_SECONDS}..{LEASE_MAX_SECONDS}")
        self.account_url = account_url.rstrip("/")
        self.container = container
        self.blob_name = blob
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self._connection_string = connection_string
        self._credential = credential
        self._auth = auth
        if connection_string:
            _register_connection_string(connection_string)
        if hasattr(credential, "get_token"):
            # Entra ID: get a token now (the credential caches it), so "not signed in" is one prompt message instead
            # of a request the storage retry policy would repeat for a quarter of a minute.
            self._call("sign in to Azure Storage",
                       lambda: credential.get_token("https://storage.azure.com/.default"))
        self._container, self._blob = self._new_clients()
        self._lock: LockInfo | None = None
        self._heartbeat: _Heartbeat | None = None
        self._guard = ExitGuard(self._release_own)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "AzureBlobBackend":
        """``config`` is a spec's or a plan's ``state`` block: names of env vars, never their values."""
        common: dict[str, Any] = {"lease_seconds": int(config.get("lease_seconds", LEASE_MAX_SECONDS))}
        if config.get("connection_string_env"):
            env = config["connection_string_env"]
            value = _secret_from_env(env, "connection_string_env")
            _register_connection_string(value)
            return cls(config["account_url"], config["container"], config["blob"], connection_string=value,
                       auth=f"the connection string in ${env}", **common)
        if config.get("account_key_env"):
            env = config["account_key_env"]
            return cls(config["account_url"], config["container"], config["blob"],
                       credential=_secret_from_env(env, "account_key_env"), auth=f"the account key in ${env}",
                       **common)
        from azure.identity import (
            DefaultAzureCredential,  # Entra ID: az login, managed or workload identity
        )

        return cls(config["account_url"], config["container"], config["blob"],
                   credential=DefaultAzureCredential(), auth="the Entra ID identity's role on the container "
                   "(it needs Storage Blob Data Contributor)", **common)

    # -- plumbing ------------------------------------------------------------------------------------------------
    def describe(self) -> str:
        return f"{self.account_url}/{self.container}/{self.blob_name}"

    @contextmanager
    def _azure(self, doing: str) -> Iterator[None]:
        try:
            yield
        except DrplanError:
            raise
        except (AzureError, binascii.Error, ValueError, TypeError) as exc:
            raise _translate(exc, doing, self.describe(), self._auth,
                             entra=hasattr(self._credential, "get_token")) from None

    def _call(self, doing: str, fn: Callable[[], T]) -> T:
        with self._azure(doing):
            return fn()

    def _new_clients(self) -> tuple[ContainerClient, BlobClient]:
        """A container client and the state blob's client, sharing one pipeline (each thread gets its own pair)."""
        options: dict[str, Any] = {
            # The SDK's default waits 15 s before its first retry; a lock heartbeat cannot afford that.
            "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3,
                                             random_jitter_range=1),
            "connection_timeout": 10,
            "read_timeout": 30,
        }
        with self._azure("connect"):
            if self._connection_string:
                service = BlobServiceClient.from_connection_string(self._connection_string, **options)
                if service.url.rstrip("/").lower() != self.account_url.lower():
                    raise StateError(
                        f"{self.describe()}: {self._auth} is for {service.url.rstrip('/')}, not state.account_url "
                        f"{self.account_url}; make them name the same account"
                    )
            else:
                service = BlobServiceClient(self.account_url, credential=self._credential, **options)
            container = service.get_container_client(self.container)
            return container, container.get_blob_client(self.blob_name)

    # -- bytes -------------------------------------------------------------------------------------------------
    def read(self) -> tuple[bytes | None, str | None]:
        for _ in range(3):
            try:
                with self._azure("read the state"):
                    downloader = self._blob.download_blob()
                    data = downloader.readall()
                    etag = downloader.properties.etag
            except _NotFound:
                return None, None
            except StateConflictError:  # written while we read it in ranges: read it again
                continue
            return (data or None), etag  # an empty blob is the lock's placeholder: no state yet
        raise StateConflictError(f"{self.describe()}: the state kept changing while it was read; try again")

    def write(self, data: bytes, etag: str | None) -> str:
        if self._heartbeat is not None and self._heartbeat.lost:
            raise StateConflictError(f"{self.describe()}: this run lost the state lock ({self._heartbeat.lost}); "
                                     "nothing was written: run the command again")
        kwargs: dict[str, Any] = {"content_settings": ContentSettings(content_type="application/json")}
        if etag is None:
            kwargs["overwrite"] = False  # If-None-Match: *
        else:
            kwargs.update(overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified)
        if self._lock is not None:
            kwargs.update(lease=self._lock.id, metadata=_metadata(self._lock))
        for attempt in (1, 2):
            try:
                with self._azure("write the state"):
                    return str(self._blob.upload_blob(data, **kwargs)["etag"])
            except _NotFound:
                if attempt == 2 or etag is not None:
                    raise StateConflictError(f"{self.describe()}: the state was deleted since this run read it; "
                                             "nothing was written: run the command again") from None
                self._ensure_container()
            except _LeaseHeld:
                raise StateLockedError(self._locked_message(self._named_holder(), writing=True)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _ensure_container(self) -> None:
        try:
            with self._azure("create the container"):
                self._container.create_container()
        except _Exists:
            pass  # somebody created it first

    def _ensure_blob(self) -> None:
        try:
            with self._azure("create the state blob"):
                self._blob.upload_blob(b"", overwrite=False)
        except (_Exists, _LeaseHeld):
            pass  # it exists now (somebody else created or leased it)
        except _NotFound:
            self._ensure_container()
            self._ensure_blob()

    # -- lock ----------------------------------------------------------------------------------------------------
    def read_lock(self) -> LockInfo | None:
        try:
            with self._azure("read the state lock"):
                props = self._blob.get_blob_properties()
        except _NotFound:
            return None
        if props.lease.state not in ("leased", "breaking"):
            return None  # metadata left by a crashed holder means nothing once its lease is gone
        raw = (props.metadata or {}).get(METADATA_KEY)
        try:
            data = json.loads(raw) if raw else None
            return LockInfo(**data) if isinstance(data, dict) else _unknown_holder()
        except (ValueError, TypeError):
            return _unknown_holder()

    def _named_holder(self, tries: int = 5, pause: float = 0.1) -> LockInfo | None:
        """The holder, named: the loser of a race can look in the instant between the winner writing its name and
        taking the lease (not leased yet: None), or between a holder clearing its name and releasing (leased, no name:
        unknown). Either passes within milliseconds, so look a few times before giving up on a name."""
        holder = self.read_lock()
        for _ in range(tries):
            if holder is not None and holder.id != "unknown":
                return holder
            time.sleep(pause)
            holder = self.read_lock()
        return holder

    def _locked_message(self, holder: LockInfo | None, *, writing: bool = False) -> str:
        who = holder.describe() if holder else "another run"
        unlock = f"drplan state unlock {holder.id}" if holder and holder.id != "unknown" else "drplan state unlock ID"
        return (
            f"{self.describe()}: state is locked by {who}"
            + ("; this run does not hold the lock, so nothing was written" if writing else "")
            + f"; its lease of {self.lease_seconds} s is renewed while that run is alive and expires by itself within "
            f"{self.lease_seconds} s if it died: wait for it, retry with --lock-timeout, or if you are sure it is gone "
            f"run: {unlock}"
        )

    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        """Take the lease (waiting up to ``timeout`` s), record who holds it, start the heartbeat."""
        info = LockInfo.mint(operation)
        deadline = time.monotonic() + timeout
        extra_tries = 3
        while True:
            try:
                with self._azure("lock the state"):
                    # Who we are goes into the metadata first (refused while somebody holds the lease), then the
                    # lease is taken only if the blob is still exactly that (If-Match): whenever the blob is leased,
                    # its metadata names the holder, with no moment in between when it names nobody or somebody else.
                    written = self._blob.set_blob_metadata(_metadata(info))
                    self._blob.acquire_lease(self.lease_seconds, lease_id=info.id, etag=str(written["etag"]),
                                             match_condition=MatchConditions.IfNotModified)
                break
            except _NotFound:
                self._ensure_blob()
            except (_LeaseHeld, StateConflictError):  # held, or another run wrote its name between our two calls
                if time.monotonic() >= deadline:
                    holder = self._named_holder()
                    if holder is None and extra_tries > 0:  # freed meanwhile: try once more rather than name nobody
                        extra_tries -= 1
                        continue
                    raise StateLockedError(self._locked_message(holder)) from None
                time.sleep(min(self.poll_interval, max(0.05, deadline - time.monotonic())))
        self._lock = info
        self._heartbeat = _Heartbeat(BlobLeaseClient(self._new_clients()[1], lease_id=info.id),
                                     interval=self.lease_seconds / 3)
        self._heartbeat.start()
        self._guard.arm()
        return info

    def unlock(self, lock_id: str | None = None) -> None:
        """Release the lease whose id is ``lock_id`` (ours by default). An id that is not the lease's is refused by
        the service itself (lease ids are lock ids), so a mismatching id can never free somebody else's lock."""
        own = self._lock
        lock_id = lock_id or (own.id if own else None)
        if lock_id is None:
            return
        mine = own is not None and own.id == lock_id
        try:
            if mine and self._heartbeat is not None:
                self._heartbeat.stop()
            holder = self.read_lock()
            if holder is None:
                return  # not locked (any more): nothing to release
            if mine and holder.id not in (lock_id, "unknown"):
                return  # we lost it and somebody else holds it now: theirs is not ours to release
            if holder.id not in (lock_id, "unknown"):
                raise StateError(f"{self.describe()}: lock id {lock_id!r} does not match the held lock "
                                 f"({holder.describe()})")
            try:
                with self._azure("unlock the state"):
                    # Clear the lock info first (under the lease), then give the lease back.
                    self._blob.set_blob_metadata({}, lease=lock_id)
                    BlobLeaseClient(self._blob, lease_id=lock_id).release()
            except StateConflictError:
                if mine or self.read_lock() is None:
                    return  # expired (or was taken over) meanwhile
                raise StateError(f"{self.describe()}: lock id {lock_id!r} does not match the held lease "
                                 f"({self._locked_message(self.read_lock())})") from None
        finally:
            if mine:
                self._lock = None
                self._heartbeat = None
                self._guard.disarm()

    def _release_own(self) -> None:
        if self._lock is not None:
            self.unlock(self._lock.id)


def _metadata(info: LockInfo) -> dict[str, str]:
    # Metadata travels as an HTTP header: ASCII only.
    return {METADATA_KEY: json.dumps(info.__dict__, sort_keys=True, ensure_ascii=True)}


def _unknown_holder() -> LockInfo:
    return LockInfo(id="unknown", holder="unknown", host="unknown", pid=0, operation="unknown", created="unknown")


class _Heartbeat(threading.Thread):
    """Renews the lease every ``interval`` seconds until stopped. A refused renewal means the lease is lost
    (``lost`` says why, and writes refuse to go on); a failed one (network) is tried again on the next beat, while the
    lease still has at least two thirds of its time left."""

    def __init__(self, lease: BlobLeaseClient, interval: float) -> None:
        super().__init__(name="drplan-state-lease", daemon=True)
        self._lease = lease
        self._interval = interval
        self._stopped = threading.Event()
        self.lost: str | None = None

    def run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._lease.renew()
            except HttpResponseError as exc:
                if self._stopped.is_set():
                    return
                if exc.status_code in (409, 412):
                    self.lost = f"renewing its lease was refused: {exc.status_code} {_code(exc)}"
                    return
            except Exception:  # noqa: BLE001 - transient (network): the next beat tries again
                continue

    def stop(self) -> None:
        self._stopped.set()
        if self is not threading.current_thread():
            self.join(timeout=10)
