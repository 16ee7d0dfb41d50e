"""drplan's local emulator of the Document Intelligence v4 / Form Recognizer v3 / Form Recognizer v2.1 and v2.0
model-copy APIs, Azure AI Content Understanding analyzers and Azure AI Language authoring projects.

A real HTTP server hosting several accounts (regions, keys, ARM ids, encryption modes, model limits), each at an
origin of its own (the account is in the host only, as on the real service), with the status codes, headers, bodies
and error envelopes of ``shared/contracts/README.md``, a clock that tests can move, fault injection and an admin API.
It is built from the contracts alone and imports nothing from the rest of drplan (a test checks this), so a
misunderstanding shared with the client cannot hide.

Layout (``README.md``, "Code layout"): ``app`` (ASGI: origin -> account, path prefix -> family, the request
pipeline every family shares), ``services/<family>`` (one module per service family: ``document_intelligence``
(DI v4 + FR v3), ``form_recognizer_v2`` (v2.1 / v2.0), ``content_understanding``, ``language``; each holds its
config entries, store, wire shapes, routes, handlers and admin routes), and the shared modules ``store`` (accounts,
settings, the timing of accepted operations), ``clock``, ``faults``, ``config`` / ``config_base`` (TOML), ``errors``
(envelopes), ``wire`` (HTTP helpers), ``admin`` (``/_emulator/``), ``server`` (CLI, one socket per account) and
``launch`` (start it as a subprocess).
"""
