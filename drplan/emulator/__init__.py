"""drplan's local emulator of the Document Intelligence v4 / Form Recognizer v3 / Form Recognizer v2.1 and v2.0
model-copy APIs, Azure AI Content Understanding analyzers and Azure AI Language authoring projects.

A real HTTP server hosting several accounts (regions, keys, ARM ids, encryption modes, model limits), each at an
origin of its own (the account is in the host only, as on the real service), with the status codes, headers, bodies
and error envelopes of ``shared/contracts/README.md``, a clock that tests can move, fault injection and an admin API.
It is built from the contracts alone and imports nothing from the rest of drplan (a test checks this), so a
misunderstanding shared with the client cannot hide.

Modules: ``config`` (TOML), ``clock``, ``store`` (state and copy semantics), ``views`` (wire shapes per
api-version), ``v2`` (Form Recognizer v2.1 / v2.0: routes, store and wire shapes), ``cu`` (Content Understanding),
``language`` (Language authoring), ``errors`` (envelopes), ``faults``, ``app`` (ASGI routing, origins),
``admin`` (``/_emulator/``), ``server`` (CLI, one socket per account), ``launch`` (start it as a subprocess).
"""
