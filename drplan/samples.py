"""The built-in drill samples (issue 16): one tiny input per kind of inference API, so ``drplan drill`` works without
``--sample``. A smoke drill proves a copy answers like its source for *this* input only; pass your own documents with
``--sample FILE|DIR`` for a drill that means something for your models."""

from __future__ import annotations

#: A one-page PDF (valid: header, catalog, page, content stream, xref, trailer) saying "drplan drill sample".
DOCUMENT_PDF = (
    b"%PDF-1.4\n"
    b"1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
    b"4 0 obj<</Length 58>>stream\nBT /F1 18 Tf 72 720 Td (drplan drill sample: invoice 42) Tj ET\nendstream endobj\n"
    b"5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\n"
    b"xref\n0 6\n0000000000 65535 f \n"
    b"trailer<</Size 6/Root 1 0 R>>\nstartxref\n0\n%%EOF\n"
)
DOCUMENT_NAME = "built-in sample (1-page PDF)"

#: A short contract sentence for custom NER (parties, a date and an amount).
NER_TEXT = ("This agreement is made on 12 March 2025 between Contoso Ltd and Fabrikam Inc for the supply of "
            "office furniture at a total price of 12,500 USD.")
NER_NAME = "built-in sample (contract sentence)"

#: Magic bytes of the documents the Document Intelligence, Form Recognizer and Content Understanding APIs take.
DOCUMENT_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
)


def document_mime(data: bytes) -> str | None:
    """The MIME type of a document the services take, from its first bytes; None: not such a document."""
    return next((mime for magic, mime in DOCUMENT_MAGIC if data.startswith(magic)), None)
