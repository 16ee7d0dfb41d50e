"""The emulated service families, one module each:

* ``document_intelligence`` — Document Intelligence v4 and Form Recognizer v3 (one copy protocol, one model store);
* ``form_recognizer_v2`` — Form Recognizer v2.1 / v2.0 (path-versioned, the older copy protocol);
* ``content_understanding`` — Content Understanding analyzers (grant + copy, and the preview-era token flow);
* ``language`` — Language authoring projects (export / import / train / deploy jobs).

Each module holds everything specific to its family and nothing else imports another family. It provides:

* ``ROUTE_NAMES`` (the names counters, the request log and the ``routes`` fault filter use) and ``ACCOUNT_KEYS`` plus
  ``parse_account(ctx, where, raw)`` (its keys of ``[accounts.NAME]``, as ``AccountConfig`` fields), which
  ``config.py`` puts together;
* its store (records and their semantics, on top of the shared ``store.Store``: accounts, settings, clock, the
  timing of accepted operations), its wire shapes, its routes and their handlers (a table route -> handler);
* ``Service(store, ...)``, what ``app.py`` routes requests to: ``resolve(method, prefix, rest, query)`` -> a route
  or None, ``async dispatch(request, account, route, headers)`` -> the answer (after the app's shared gateway
  steps: key, rate limit, faults, request log), ``backend_error(route, error)`` (the family's error-code header on
  an injected 503 or an emulator bug), ``reset()``, ``settle()`` (finish the operations whose time is up), and for
  the admin API ``admin_routes()`` and ``admin_view(account)`` (its part of ``GET /_emulator/accounts``).

Adding a family: one module here, its line in ``config.ROUTES`` / ``config.ACCOUNT_KEYS`` / ``_parse_account`` and in
``app.EmulatorApp`` (the service and its path prefix), its README section, its tests.
"""
