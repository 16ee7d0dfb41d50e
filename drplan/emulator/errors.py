"""Service errors with the exact envelopes of contracts §1 (error envelope) and §2.6 (codes and messages).

Every error the emulator answers on a service route is a :class:`ServiceError`; the app turns it into
``{"error": {"code", "message", "innererror"?: {"code", "message"}}}`` with the matching HTTP status. The factory
functions below are the only place where codes and message texts are spelled, so a test can check them once.
"""

from __future__ import annotations

from typing import Any

ASSET_ID_PATTERN = "^[a-zA-Z0-9][a-zA-Z0-9._~-]{1,63}$"


class ServiceError(Exception):
    """An error answer: HTTP status plus the error envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        inner_code: str | None = None,
        inner_message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.inner_code = inner_code
        self.inner_message = inner_message
        self.headers = headers or {}

    def error_object(self) -> dict[str, Any]:
        """The ``error`` member (also used verbatim as a failed operation's ``error``)."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner_code is not None:
            inner: dict[str, Any] = {"code": self.inner_code}
            if self.inner_message is not None:
                inner["message"] = self.inner_message
            error["innererror"] = inner
        return error

    def body(self) -> dict[str, Any]:
        return {"error": self.error_object()}


# --- gateway-level answers (APIM spells these with numeric codes, contracts §1 and README) ----------------------


def resource_not_found() -> ServiceError:
    """Unknown account, route or api-version: what APIM answers (README "Service API")."""
    return ServiceError(404, "404", "Resource not found")


def access_denied() -> ServiceError:
    return ServiceError(
        401,
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for "
        "an active subscription and use a correct regional API endpoint for your resource.",
    )


def throttled(retry_after: int) -> ServiceError:
    """429 with ``Retry-After`` and a DI-style body (contracts §1 "Throttling")."""
    return ServiceError(
        429,
        "429",
        f"Rate limit is exceeded. Try again in {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
    )


def service_unavailable() -> ServiceError:
    """An injected 503 (contracts §2.6: ``ServiceUnavailable`` → 503)."""
    return ServiceError(503, "ServiceUnavailable", "The service is temporarily unavailable. Please try again later.")


# --- contracts §2.6 ------------------------------------------------------------------------------------------------


def _not_found(inner_code: str, inner_message: str) -> ServiceError:
    return ServiceError(404, "NotFound", "Resource not found.", inner_code=inner_code, inner_message=inner_message)


def _conflict(inner_code: str, inner_message: str) -> ServiceError:
    return ServiceError(
        409,
        "Conflict",
        "The request could not be completed due to a conflict with the current state of the target resource.",
        inner_code=inner_code,
        inner_message=inner_message,
    )


def _invalid_request(inner_code: str, inner_message: str) -> ServiceError:
    return ServiceError(400, "InvalidRequest", "Invalid request.", inner_code=inner_code, inner_message=inner_message)


def _invalid_argument(inner_code: str, inner_message: str) -> ServiceError:
    return ServiceError(400, "InvalidArgument", "Invalid argument.", inner_code=inner_code, inner_message=inner_message)


def model_not_found() -> ServiceError:
    """Exact body recorded in azure-sdk-for-js formrecognizer recordings (contracts §2.5)."""
    return _not_found("ModelNotFound", "The requested model was not found.")


def classifier_not_found() -> ServiceError:
    """No recorded classifier body; same shape as ModelNotFound [INF]."""
    return _not_found("ModelNotFound", "The requested classifier was not found.")


def operation_not_found() -> ServiceError:
    """Unknown or expired operation (contracts §2.3: retained 24 h, then 404 ``OperationNotFound``)."""
    return _not_found(
        "OperationNotFound",
        "The requested operation was not found. The identifier may be invalid or the operation may have expired.",
    )


def model_exists() -> ServiceError:
    """Exact 409 body from azure-sdk-for-net #35581 (contracts §2.6)."""
    return _conflict("ModelExists", "A model with the provided name already exists.")


def classifier_exists() -> ServiceError:
    """Same shape as ModelExists; no classifier-specific body is recorded [INF]."""
    return _conflict("ModelExists", "A classifier with the provided name already exists.")


def model_read_only(model_id: str) -> ServiceError:
    """Prebuilt models cannot be deleted or copied (``InvalidRequest``/``ModelReadOnly``, contracts §2.6)."""
    return _invalid_request("ModelReadOnly", f"The requested model '{model_id}' is read-only.")


def model_not_ready(model_id: str) -> ServiceError:
    """Copy from a model that is still being built. ``InvalidRequest``/``ModelNotReady`` is in the docs' error table
    (contracts §2.6, resolve-errors.md); issue 13 states that FR v3 answers it on ``copyTo``. The message text is not
    recorded [INF]."""
    return _invalid_request("ModelNotReady", f"The requested model '{model_id}' is not ready for use.")


def parameter_missing(name: str) -> ServiceError:
    """Wording from azure-sdk-for-net #45476 ("The parameter modelId is required.")."""
    return _invalid_argument("ParameterMissing", f"The parameter {name} is required.")


def invalid_parameter(name: str, why: str) -> ServiceError:
    return _invalid_argument("InvalidParameter", f"The parameter {name} is invalid: {why}")


def invalid_parameter_length(name: str, limit: int) -> ServiceError:
    return _invalid_argument("InvalidParameterLength", f"The parameter {name} exceeds the maximum length of {limit}.")


def document_model_limit(limit: int) -> ServiceError:
    """Target over its model limit (contracts §2.5: ``InvalidRequest``/``DocumentModelLimit``)."""
    return _invalid_request("DocumentModelLimit", f"The number of custom document models has reached the limit of {limit}.")


# Copy errors: HTTP 400 with code "1002" (contracts §2.6, disaster-recovery.md).

INVALID_CLAIMS = "Authorization failure due to missing or invalid authorization claims"
CONSUMED = "Couldn't retrieve authorization metadata. If this issue persists use a different target model to copy into."


def authorization_invalid() -> ServiceError:
    """The copy body differs from what authorizeCopy issued (or the token is unknown)."""
    return ServiceError(400, "1002", INVALID_CLAIMS)


def authorization_expired(expired_at: str) -> ServiceError:
    """Expired token: the docs only say "1002"; the message keeps the invalid-claims prefix and adds why [INF]."""
    return ServiceError(400, "1002", f"{INVALID_CLAIMS}: the authorization expired at {expired_at}.")


def authorization_consumed() -> ServiceError:
    """The authorization was already used by an accepted copy (single use, contracts §2.4)."""
    return ServiceError(400, "1002", CONSUMED)


def target_resource_unknown(resource_id: str, region: str) -> ServiceError:
    """``targetResourceId`` names no emulated resource, or not in ``targetResourceRegion``."""
    return ServiceError(
        400,
        "1002",
        f"Couldn't fetch information for Cognitive resource with ID '{resource_id}'. "
        f"Ensure the resource is valid and exists in the specified region '{region}'.",
    )


# Asynchronous failures, reported as a failed operation's ``error`` (contracts §2.3).


def encryption_downgrade() -> ServiceError:
    """CMK source → Microsoft-managed target without ``x-ms-forms-copy-degrade: true`` (contracts §2.4, docs'
    error table: the copy *operation* fails with this code)."""
    return ServiceError(
        400,
        "DataProtectionTransformServiceError",
        "Data transfer request isn't allowed as it downgrades to a less secure data protection scheme. "
        "Refer documentation or contact your service administrator for details.",
    )


def injected_operation_failure() -> ServiceError:
    """``operation_failure_rate`` fault: a copy that fails for no reason the caller could fix."""
    return ServiceError(500, "InternalServerError", "An unexpected error occurred.")


# --- Form Recognizer v2.1 / v2.0 (contracts §4) ---------------------------------------------------------------------
# v2 answers use the flat envelope {"error": {"code", "message"}} with numeric-string codes, and carry the code in
# the response header ``x-ms-cs-error-code`` (seen in live v2.1 traffic, contracts §1). Gateway answers (401 bad
# key, 429 throttle, APIM's 404 for unknown paths) are not from the v2 backend and keep their own shape.

CS_ERROR_CODE_HEADER = "x-ms-cs-error-code"
#: The header a failed v2.1 copy result carries its error code in, in the March 2021 recording (v2.1-preview.3):
#: Azure/azure-sdk-for-python sdk/formrecognizer/azure-ai-formrecognizer/tests/recordings/
#: test_copy_model.test_copy_model_fail.yaml (commit fc26007654722bfd8255b9314446ec63ca11a079), last interaction:
#: 200 + ``ms-azure-ai-errorcode: 2024`` (the September 2020 recording of the same test had
#: ``x-ms-cs-error-code: AuthorizationError`` instead, contracts §4).
AI_ERROR_CODE_HEADER = "ms-azure-ai-errorcode"
#: The code of a v2.1 copy whose target (or authorization) the source cannot resolve, same recording and issue 13:
#: ``{"code": "2024", "message": "Could not retrieve authorization metadata. If this issue persists use a different
#: target model to copy into."}``. (The recording also has ``innerError: {requestId}``, which the v2.1 spec's
#: ErrorInformation does not declare; left out.)
V2_AUTHORIZATION_ERROR_CODE = "2024"
V2_AUTHORIZATION_ERROR = (
    "Could not retrieve authorization metadata. If this issue persists use a different target model to copy into."
)


def v2_error(status: int, code: str, message: str) -> ServiceError:
    """A v2 backend error: flat envelope plus ``x-ms-cs-error-code``."""
    return ServiceError(status, code, message, headers={CS_ERROR_CODE_HEADER: code})


def with_code_header(error: ServiceError, header: str) -> ServiceError:
    """The same error with ``header`` carrying its code (a copy; the error itself when it has the header already)."""
    if header in error.headers:
        return error
    return ServiceError(
        error.status,
        error.code,
        error.message,
        inner_code=error.inner_code,
        inner_message=error.inner_message,
        headers={**error.headers, header: error.code},
    )


def with_cs_error_code(error: ServiceError) -> ServiceError:
    """The same error with ``x-ms-cs-error-code`` (for injected 503s and emulator bugs on v2 routes)."""
    return with_code_header(error, CS_ERROR_CODE_HEADER)


#: The header Content Understanding and Language backend errors carry their code in (contracts §1).
ERROR_CODE_HEADER = "x-ms-error-code"


def with_error_code(error: ServiceError) -> ServiceError:
    """The same error with ``x-ms-error-code`` (gateway answers, injected 503s and emulator bugs on CU and Language
    routes)."""
    return with_code_header(error, ERROR_CODE_HEADER)


def v2_model_not_found(model_id: str) -> ServiceError:
    """Exact body recorded in azure-sdk-for-js (contracts §4): 404 ``"1022"``."""
    return v2_error(404, "1022", f"Model with 'id={model_id}' not found.")


def v2_bad_request(message: str) -> ServiceError:
    """400 ``"1002"``: invalid request / bad copy payload / expired token / bad region (contracts §4)."""
    return v2_error(400, "1002", message)


def v2_authorization_invalid() -> ServiceError:
    """The copyAuthorization's claims do not verify (unknown token, or modelId/expiry edited)."""
    return v2_bad_request(INVALID_CLAIMS)


def v2_authorization_expired(expired_at: str) -> ServiceError:
    return v2_bad_request(f"{INVALID_CLAIMS}: the authorization expired at {expired_at}.")


def v2_incompatible_api_version() -> ServiceError:
    """Exact text from azure-sdk-for-net #14607 (a v2.1 model read through v2.0)."""
    return v2_error(
        400,
        "1027",
        "The Form Recognizer API version used to create the model and the current API version used for GET model are incompatible.",
    )


def v2_copy_result_not_found(result_id: str) -> ServiceError:
    """No recorded body for an unknown copy result; the emulator answers 404 with code ``"404"`` [INF]."""
    return v2_error(404, "404", f"Copy result with 'id={result_id}' not found.")


# Errors of a failed v2 copy, reported in copyResult.errors (a 200 GET), not as HTTP errors.


def v2_copy_error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def v2_copy_authorization_error() -> dict[str, str]:
    """Recorded live: the target could not be resolved (wrong ``targetResourceId``/``targetResourceRegion``), or the
    authorization was already used: ``"2024"`` since 2021 (see :data:`V2_AUTHORIZATION_ERROR_CODE`; it was
    ``AuthorizationError`` in the 2020 preview, contracts §4)."""
    return v2_copy_error(V2_AUTHORIZATION_ERROR_CODE, V2_AUTHORIZATION_ERROR)


def v2_copy_model_limit(limit: int) -> dict[str, str]:
    """No recorded v2 code for a full target [INF]."""
    return v2_copy_error("ModelLimitExceeded", f"The number of custom models has reached the limit of {limit}.")


def v2_copy_target_gone(model_id: str) -> dict[str, str]:
    """The target's ``creating`` model was deleted before the copy finished [INF]; the code is the spec example's."""
    return v2_copy_error("ResourceResolverError", f"The target model '{model_id}' was deleted before the copy completed.")
