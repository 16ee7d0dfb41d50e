"""What the families share for DR drills (issue 16): the sample a drill sends, and one "start an analysis and wait for
it" helper over the one client and the one poller. The families' own inference calls live in their ``drill.py``;
``drplan/drill.py`` (the core) compares what they answer and never knows which family it drives.

An answer is *normalised* by its family into a flat ``{aspect: value}`` dict (``"docType"``, ``"field Total"``,
``"entity Contoso@0"``...) holding only what a faithful copy must answer alike: document types, fields and their
values, entities. Ids that differ per region by design (a v2.1 minted id, a model id inside a docType) are replaced by
placeholders first, so the core can compare two answers with ``==`` and name the aspects that differ.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drplan import samples
from drplan.errors import DrplanError, OperationFailedError, ServiceError
from drplan.families.base import HttpAdapter

#: Sample files larger than this are refused: a drill is a smoke test, not a batch job.
MAX_SAMPLE_BYTES = 20 * 1024 * 1024


class SampleError(DrplanError):
    """The drill's sample cannot be sent to this copy's inference API (reported on the copy, not raised by drill)."""


@dataclass(frozen=True)
class Sample:
    name: str  # for messages: a file name or "built-in sample (...)"
    data: bytes
    mime: str

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")

    def b64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_SAMPLE_BYTES:
            raise SampleError(f"sample {path}: {size} bytes is more than a drill sends ({MAX_SAMPLE_BYTES} bytes); "
                              "use a smaller document")
        return path.read_bytes()
    except OSError as exc:
        raise SampleError(f"sample {path}: cannot read it ({exc.strerror or exc})") from exc


def document_sample(files: Sequence[Path]) -> Sample:
    """The first document (PDF, JPEG, PNG, BMP, TIFF by its first bytes) among ``files``; the built-in one-page PDF
    when none were given. Files given but none a document: SampleError naming them."""
    if not files:
        return Sample(samples.DOCUMENT_NAME, samples.DOCUMENT_PDF, "application/pdf")
    for path in files:
        data = _read(path)
        mime = samples.document_mime(data)
        if mime:
            return Sample(str(path), data, mime)
    names = ", ".join(str(p) for p in files[:5]) + (" ..." if len(files) > 5 else "")
    raise SampleError(f"--sample {names}: not a document (PDF, JPEG, PNG, BMP or TIFF, by its content); these models "
                      "analyze documents only")


def text_sample(files: Sequence[Path]) -> Sample:
    """The first ``.txt`` file (UTF-8) among ``files``; the built-in contract sentence when none were given."""
    if not files:
        return Sample(samples.NER_NAME, samples.NER_TEXT.encode(), "text/plain")
    texts = [p for p in files if p.suffix.lower() == ".txt"]
    if not texts:
        raise SampleError(f"--sample: no .txt file among {', '.join(str(p) for p in files[:5])}; custom NER "
                          "analyzes text, so give a UTF-8 .txt sample (or a directory holding one)")
    data = _read(texts[0])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SampleError(f"sample {texts[0]}: not UTF-8 text") from None
    if not text.strip():
        raise SampleError(f"sample {texts[0]}: empty")
    return Sample(str(texts[0]), data, "text/plain")


def _error_text(body: dict[str, Any]) -> str:
    err = body.get("error")
    if isinstance(err, dict):
        inner: dict[str, Any] = err["innererror"] if isinstance(err.get("innererror"), dict) else {}
        code = inner.get("code") or err.get("code")
        return f"{code}: {inner.get('message') or err.get('message')}"
    errors = body.get("errors") or (body.get("analyzeResult") or {}).get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        first_inner: dict[str, Any] = first["innererror"] if isinstance(first.get("innererror"), dict) else {}
        inner = first_inner
        return f"{inner.get('code') or first.get('code')}: {inner.get('message') or first.get('message')}"
    return f"status {body.get('status')}"


async def analyze(adapter: HttpAdapter, url: str, *, op: str, deadline: float, json: Any = None,
                  content: bytes | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """POST an analysis (202 + Operation-Location), poll it to the end within ``deadline`` seconds (Retry-After
    honoured by the one poller, 429s by the client) and return the final body; a failed analysis is an
    OperationFailedError with the service's error."""
    response = await adapter.client.request("POST", url, endpoint=adapter.conn.endpoint, key=adapter.conn.key,
                                            what=adapter._what(op), json=json, content=content, headers=headers,
                                            ok=(202,))
    location = response.headers.get("operation-location")
    if not location:
        raise ServiceError(f"{adapter._what(op)}: the 202 answer named no Operation-Location to poll")
    try:
        first = float(response.headers.get("retry-after", "0"))
    except ValueError:
        first = 0.0
    body = await adapter.wait(location, what=op, first_delay=first, interval=1.0, start_interval=0.05,
                              deadline=deadline)
    if str(body.get("status", "")).lower() != "succeeded":
        raise OperationFailedError(f"{adapter._what(op)}: the analysis ended {body.get('status')}: {_error_text(body)}")
    return body


__all__ = ["Sample", "SampleError", "analyze", "document_sample", "text_sample"]
