"""What a Language project's export carries (contracts §6.2 ExportedProject), made comparable and readable. Pure.

* :func:`canonical` puts an export in one normal form, so that two exports of the same content compare equal
  whatever the order the service lists things in, the api-version that exported them (``projectFileVersion``), or the
  project name (a rename copies under another name; the import takes the name from its URL, contracts §6.3).
* :func:`content_digest` names that content (``sha256:<hex>``): the plan records it, apply refuses an export that
  does not carry it, the state remembers what was imported.
* :func:`summarise` is the reviewers' diff: deepdiff over the exports keyed by what reviewers think in (entity
  categories, documents by location, labels per document), one line per difference::

      ~ metadata.language: "en" -> "de"
      + entity: Amount
      - entity: Person
      + document: doc3.txt (Train, 2 labels)
      - document: old.txt (Test, 1 label)
      ~ document doc2.txt: dataset "Train" -> "Test"
      ~ labels doc1.txt: + Amount (40..46); Date -> Amount (10..20); - Person (0..4)

  Lines are ordered metadata, categories, documents, labels; each group sorted. ``+`` is what the import adds to the
  target, ``-`` what it removes from it (the source is the new side).

Standard library and deepdiff only: the planner and the apply flow both use it.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

NER = "CustomEntityRecognition"
#: CreateProjectOptions values that mean the same as the key being absent.
_META_DEFAULTS: dict[str, Any] = {"multilingual": False, "settings": {}, "description": ""}


def _clean(value: Any) -> Any:
    """Drop None values from dicts, recursively (a service may send ``"description": null`` or omit it)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def canonical(exported: dict[str, Any]) -> dict[str, Any]:
    """The export's content in one normal form: ``{"metadata": {...}, "assets": {...}}`` (no projectName, no
    projectFileVersion, lists sorted, defaults dropped)."""
    meta = _clean(dict(exported.get("metadata") or {}))
    meta.pop("projectName", None)
    meta = {k: v for k, v in meta.items() if _META_DEFAULTS.get(k, object()) != v}
    assets = _clean(dict(exported.get("assets") or {}))
    kind = assets.get("projectKind") or meta.get("projectKind")
    if kind:
        assets["projectKind"] = kind
    for key in ("entities", "classes"):
        if key in assets and isinstance(assets[key], list):
            assets[key] = sorted(assets[key], key=lambda c: (str(c.get("category", "")), _sort_key(c)))
    docs = []
    for doc in assets.get("documents") or []:
        d = dict(doc)
        if isinstance(d.get("entities"), list):  # NER: regions of labels
            regions = []
            for region in d["entities"]:
                r = dict(region)
                r["labels"] = sorted(r.get("labels") or [], key=lambda x: (x.get("offset", 0), x.get("length", 0),
                                                                           str(x.get("category", ""))))
                regions.append(r)
            d["entities"] = sorted(regions, key=lambda r: (r.get("regionOffset", 0), r.get("regionLength", 0),
                                                           _sort_key(r)))
        if isinstance(d.get("classes"), list):
            d["classes"] = sorted(d["classes"], key=_sort_key)
        docs.append(d)
    if "documents" in assets:
        assets["documents"] = sorted(docs, key=lambda d: (str(d.get("location", "")), _sort_key(d)))
    return {"metadata": meta, "assets": assets}


def content_digest(exported: dict[str, Any]) -> str:
    canon = json.dumps(canonical(exported), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return "sha256:" + hashlib.sha256(canon).hexdigest()


def counts(exported: dict[str, Any]) -> dict[str, int]:
    """How many categories, documents and labels an export holds (for reasons and warnings)."""
    assets = exported.get("assets") or {}
    docs = assets.get("documents") or []
    return {
        "categories": len(assets.get("entities") or assets.get("classes") or []),
        "documents": len(docs),
        "labels": sum(len(_doc_labels(d)) for d in docs),
    }


def category_noun(exported: dict[str, Any]) -> str:
    kind = (exported.get("assets") or {}).get("projectKind") or (exported.get("metadata") or {}).get("projectKind")
    return "entity" if kind in (None, NER) or "entities" in (exported.get("assets") or {}) else "class"


def _doc_labels(doc: dict[str, Any]) -> list[str]:
    """A document's labels as comparable strings: NER ``category@offset+length``, classification ``category``."""
    out = []
    for region in doc.get("entities") or []:
        for lab in region.get("labels") or []:
            out.append(f"{lab.get('category', '')}@{lab.get('offset', 0)}+{lab.get('length', 0)}")
    if isinstance(doc.get("class"), dict) and doc["class"].get("category"):
        out.append(str(doc["class"]["category"]))
    for c in doc.get("classes") or []:
        if isinstance(c, dict) and c.get("category"):
            out.append(str(c["category"]))
    return sorted(out)


def _keyed(exported: dict[str, Any]) -> dict[str, Any]:
    """The export as reviewers think of it: categories by name, documents by location, labels as a set."""
    canon = canonical(exported)
    assets = canon["assets"]
    categories = {}
    for c in assets.get("entities") or assets.get("classes") or []:
        categories[str(c.get("category", ""))] = {k: v for k, v in c.items() if k != "category"}
    documents = {}
    for doc in assets.get("documents") or []:
        documents[str(doc.get("location", ""))] = {
            **{k: v for k, v in doc.items() if k not in ("location", "entities", "class", "classes")},
            "labels": _doc_labels(doc),
        }
    rest = {k: v for k, v in assets.items() if k not in ("entities", "classes", "documents", "projectKind")}
    return {"metadata": canon["metadata"], "categories": categories, "documents": documents, "other": rest}


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= 120 else text[:119] + "…"


def _label_text(label: str) -> tuple[str, str]:
    """``Amount@10+5`` -> (``Amount``, ``10..15``); a classification label has no span."""
    if "@" not in label:
        return label, ""
    category, _, span = label.rpartition("@")
    offset, _, length = span.partition("+")
    try:
        return category, f"{int(offset)}..{int(offset) + int(length)}"
    except ValueError:
        return category, span


def _labels_line(location: str, old: list[str], new: list[str]) -> str | None:
    removed = sorted(set(old) - set(new))
    added = sorted(set(new) - set(old))
    if not removed and not added:
        return None
    parts: list[tuple[str, str]] = []
    spans_removed: dict[str, list[str]] = defaultdict(list)
    for lab in removed:
        cat, span = _label_text(lab)
        spans_removed[span].append(cat)
    relabelled: set[str] = set()
    for lab in added:
        cat, span = _label_text(lab)
        if span and spans_removed.get(span):  # the same text span, another entity: a relabel
            was = spans_removed[span].pop(0)
            relabelled.add(f"{was}@{span}")
            parts.append((span, f"{was} -> {cat} ({span})"))
        else:
            parts.append((span, f"+ {cat}" + (f" ({span})" if span else "")))
    for span, cats in spans_removed.items():
        for cat in cats:
            parts.append((span, f"- {cat}" + (f" ({span})" if span else "")))

    def order(item: tuple[str, str]) -> tuple[int, int, str]:
        span, text = item
        start = int(span.split("..")[0]) if span and span.split("..")[0].isdigit() else -1
        return (start, 0 if text.startswith("+") else 1 if text.startswith("-") else 2, text)

    return f"~ labels {location}: " + "; ".join(text for _, text in sorted(parts, key=order))


def _changes(old: Any, new: Any) -> list[tuple[str, list[Any], Any, Any]]:
    """deepdiff of two values as (kind, path list, old, new); kind is ``+``, ``-`` or ``~``."""
    from deepdiff import (
        DeepDiff,  # imported when a diff is needed: it costs a tenth of a second at start-up
    )

    out = []
    for report, nodes in DeepDiff(old, new, ignore_order=True, view="tree").items():
        sign = "+" if report.endswith("_added") else "-" if report.endswith("_removed") else "~"
        for node in nodes:
            out.append((sign, node.path(output_format="list"), node.t1, node.t2))
    return out


def _where(path: list[Any]) -> str:
    from drplan.plan.diffs import dotted

    return dotted("root" + "".join(f"[{p}]" if isinstance(p, int) else f"[{p!r}]" for p in path))


def summarise(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What importing export ``new`` over a project whose export is ``old`` changes, one line per difference."""
    a, b = _keyed(old), _keyed(new)
    noun = category_noun(new)
    out: list[str] = []
    for group, prefix in (("metadata", "metadata"), ("other", "assets")):
        lines = []
        for sign, path, t1, t2 in _changes(a[group], b[group]):
            where = f"{prefix}.{_where(path)}" if path else prefix
            if sign == "+":
                lines.append(f"+ {where}: {_show(t2)}")
            elif sign == "-":
                lines.append(f"- {where}: {_show(t1)}")
            else:
                lines.append(f"~ {where}: {_show(t1)} -> {_show(t2)}")
        out.extend(sorted(set(lines), key=lambda line: (line[2:], line)))  # by path
    cats, docs, fields, labels = [], [], [], []
    for name in sorted(set(a["categories"]) | set(b["categories"])):
        if name not in a["categories"]:
            cats.append(f"+ {noun}: {name}")
        elif name not in b["categories"]:
            cats.append(f"- {noun}: {name}")
        else:
            for _, path, t1, t2 in _changes(a["categories"][name], b["categories"][name]):
                cats.append(f"~ {noun} {name}: {_where(path)} {_show(t1)} -> {_show(t2)}")
    for loc in sorted(set(a["documents"]) | set(b["documents"])):
        if loc not in a["documents"] or loc not in b["documents"]:
            sign, doc = ("+", b["documents"][loc]) if loc not in a["documents"] else ("-", a["documents"][loc])
            n = len(doc["labels"])
            what = ", ".join(x for x in (str(doc.get("dataset") or ""), f"{n} label{'s' if n != 1 else ''}") if x)
            docs.append(f"{sign} document: {loc} ({what})")
            continue
        old_doc, new_doc = a["documents"][loc], b["documents"][loc]
        line = _labels_line(loc, old_doc["labels"], new_doc["labels"])
        if line:
            labels.append(line)
        rest_old = {k: v for k, v in old_doc.items() if k != "labels"}
        rest_new = {k: v for k, v in new_doc.items() if k != "labels"}
        for sign, path, t1, t2 in _changes(rest_old, rest_new):
            fields.append(f"~ document {loc}: {_where(path)} {_show(t1 if sign != '+' else None)} -> "
                          f"{_show(t2 if sign != '-' else None)}")
    out.extend(sorted(set(cats)))
    out.extend(docs)
    out.extend(sorted(set(fields)))
    out.extend(labels)
    return out


__all__ = ["canonical", "category_noun", "content_digest", "counts", "summarise"]
