"""The state: what drplan has copied and what it is in the middle of.

``model`` is the document, ``manager`` the one place that knows its format, lineage and serial, and ``backends`` only
move its bytes and hold its lock (a local file, or an Azure blob with a lease). The journal's semantics live in
drplan.apply.journal; the state only stores it.
"""
