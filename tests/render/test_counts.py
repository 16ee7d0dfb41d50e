"""Copies and target settings are counted apart (issue 17 point 9: "14 copies in sync" next to a drill of 13)."""

from __future__ import annotations

from drplan.plan.model import Action, Change, Source, Target
from drplan.render.counts import copies_phrase, is_setting
from drplan.spec.model import AssetKind


def change(kind: AssetKind, tid: str) -> Change:
    return Change(f"r/t/{kind.value}/{tid}", "r", kind, Action.NO_OP, "in sync", Source("s", tid, "fp"),
                  Target("t", tid, True, "fp"))


def test_a_defaults_key_is_a_setting_not_a_copy():
    model, analyzer, default = (change(AssetKind.DOCUMENT_MODEL, "m"), change(AssetKind.ANALYZER, "a"),
                                change(AssetKind.MODEL_DEPLOYMENT, "gpt-4.1"))
    assert [is_setting(c) for c in (model, analyzer, default)] == [False, False, True]
    assert copies_phrase([model, analyzer, default]) == "2 copies and 1 target setting"
    assert copies_phrase([model], "unchanged") == "1 unchanged copy"
    assert copies_phrase([default, default, model], "unchanged") == "1 unchanged copy and 2 unchanged target settings"
    assert copies_phrase([]) == "0 copies"
