"""plan --replace ADDRESS end to end (issue 17, Terraform's -replace): a Document Intelligence copy in sync is
copied again (delete, then copy) through a reviewed plan, and through apply SPEC; a typo is a plan error."""

from __future__ import annotations

from e2e_support import read_json

from drplan.errors import EXIT_ERROR, EXIT_OK

ADDR = "prod/west/document-model/invoice-2024"


def test_replace_recopies_an_in_sync_copy_and_the_next_plan_has_no_changes(emu, spec_file, drplan, tmp_path):
    spec_file(classifiers="[]", targets='["west"]')
    r = drplan("apply", "dr.toml", "--auto-approve")
    assert r.code == EXIT_OK, r.text
    copies = emu.route_count("src", "documentModels:copyTo")
    assert copies == 3

    r = drplan("plan", "dr.toml", "-out=plan.json", f"-replace={ADDR}")
    assert r.code == EXIT_OK, r.text
    assert "0 to create, 1 to replace, 0 to delete, 2 unchanged" in r.out
    assert f"Replace requested (--replace): {ADDR}" in r.out
    doc = read_json(tmp_path / "plan.json")
    assert doc["options"]["replace"] == [ADDR]
    change = next(c for c in doc["changes"] if c["address"] == ADDR)
    assert change["actions"] == ["delete", "create"] and change["reason"].startswith("replace requested (--replace)")
    assert f"Replace requested (--replace): {ADDR}" in drplan("show", "plan.json").out
    assert f"`{ADDR}`" in drplan("show", "plan.json", "--format", "markdown").out
    assert drplan("apply", "plan.json", "--replace", "prod/west/document-model/po").code == EXIT_ERROR  # fixed

    r = drplan("apply", "plan.json")
    assert r.code == EXIT_OK, r.text
    assert emu.route_count("src", "documentModels:copyTo") == copies + 1
    assert set(emu.models("west")) == {"invoice-2024", "receipt-2024", "po"}
    r = drplan("plan", "dr.toml", "--detailed-exitcode")
    assert r.code == EXIT_OK and "No changes." in r.out, r.text

    # the same in plan-and-apply mode, repeatable and in either spelling
    r = drplan("apply", "dr.toml", "--auto-approve", "--replace", ADDR, "-replace=prod/west/document-model/po")
    assert r.code == EXIT_OK, r.text
    assert emu.route_count("src", "documentModels:copyTo") == copies + 3
    assert drplan("plan", "dr.toml", "--detailed-exitcode").code == EXIT_OK


def test_a_replace_address_with_no_change_is_a_plan_error_naming_it(emu, spec_file, drplan):
    spec_file(classifiers="[]", targets='["west"]')
    assert drplan("apply", "dr.toml", "--auto-approve").code == EXIT_OK
    typo = "prod/west/document-model/invoice-2042"
    r = drplan("plan", "dr.toml", "--replace", typo)
    assert r.code == EXIT_ERROR and f"--replace {typo}: no change in this plan has this address" in r.out, r.text
    r = drplan("apply", "dr.toml", "--auto-approve", f"-replace={typo}")
    assert r.code == EXIT_ERROR
    assert emu.route_count("src", "documentModels:copyTo") == 3
