"""drplan.drill without services: comparing normalised answers, exit codes, the three renderings, sample choice."""

from __future__ import annotations

import pytest

from drplan import drill
from drplan.families.inference import SampleError, document_sample, text_sample


def _result(verdict: str, address: str = "r/west/document-model/m", **kw) -> drill.CopyDrill:
    return drill.CopyDrill(address=address, rule="r", kind="document-model",
                           source={"resource": "src", "region": "eastus", "ids": {"model_id": "m"}},
                           target={"resource": "west", "region": "westus2", "ids": {"model_id": "m"}},
                           verdict=verdict, reason=f"{verdict} because", **kw)


def test_differences_name_each_aspect_and_are_bounded():
    src = {"document 0 docType": "$self", "document 0 field Total": ["number", 12.5]}
    tgt = {"document 0 docType": "$self", "document 0 field Total": ["number", 9.1], "extra": 1}
    out = drill.differences(src, tgt)
    assert out == ["document 0 field Total: source ['number', 12.5], copy ['number', 9.1]",
                   "extra: source '(absent)', copy 1"]
    many = drill.differences({f"k{i}": i for i in range(30)}, {}, limit=5)
    assert len(many) == 6 and many[-1] == "... and 25 more"
    assert drill.differences(src, dict(src)) == []


def test_exit_codes_and_renderings():
    ready, degraded, failed = _result("ready"), _result("degraded", differences=["field X: a, b"]), _result("failed")
    ready.recovery_point_age_seconds = 0
    assert drill.exit_code([ready]) == 0
    assert drill.exit_code([ready, degraded]) == 2
    assert drill.exit_code([ready, degraded, failed]) == 1
    human = drill.render_human([ready, degraded, failed])
    assert human.startswith("Drill: 3 copies: 1 ready, 1 degraded, 1 failed.")
    assert "READY     r/west/document-model/m  [src (eastus) -> west (westus2)" in human and "~ field X: a, b" in human
    md = drill.render_markdown([ready, degraded])
    assert md.startswith("## DR drill: 1 ready, 1 degraded, 0 failed") and "| degraded | `r/west/document-model/m` |" in md


def test_samples(tmp_path):
    assert document_sample([]).data.startswith(b"%PDF") and text_sample([]).text
    (tmp_path / "a.txt").write_text("Contoso signs", encoding="utf-8")
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 10)
    files = drill.sample_files(str(tmp_path))
    assert document_sample(files).mime == "image/png" and text_sample(files).text == "Contoso signs"
    with pytest.raises(SampleError, match="not a document"):
        document_sample([tmp_path / "a.txt"])
    with pytest.raises(SampleError, match="no .txt"):
        text_sample([tmp_path / "b.png"])
    with pytest.raises(Exception, match="no such file"):
        drill.sample_files(str(tmp_path / "nope.pdf"))
