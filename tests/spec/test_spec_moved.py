"""``[[moved]]`` blocks (issue 17 point 6): the three forms load, and every invalid block is one message naming the
file and the block's TOML path."""

from __future__ import annotations

import pytest

from drplan.errors import SpecError
from drplan.spec.load import load_spec
from drplan.spec.model import Move

GOOD = """
version = 1

[state]
path = "state/dr.state.json"

[resources.primary]
family = "document-intelligence"
endpoint = "https://primary.cognitiveservices.azure.com/"
region = "eastus"
resource_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/primary"
api_version = "2024-11-30"
key_env = "PRIMARY_KEY"
encryption = "customer-managed"

[resources.west]
family = "document-intelligence"
endpoint = "https://west.cognitiveservices.azure.com"
region = "westus"
resource_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/west"
api_version = "2024-11-30"
key_env = "WEST_KEY"

[[replicate]]
name = "invoices"
source = "primary"
targets = ["west"]
models = ["invoice-*"]
classifiers = ["router"]
rename = { "invoice-2024" = "invoice-2024-dr" }
"""

#: GOOD has one rule, "invoices" (source primary, target west); "archive" adds a second with the same target.
ARCHIVE = '\n[[replicate]]\nname = "archive"\nsource = "primary"\ntargets = ["west"]\nmodels = ["old-*"]\n'


def moved(*pairs: tuple[str, str]) -> str:
    return "".join(f'\n[[moved]]\nfrom = "{a}"\nto = "{b}"\n' for a, b in pairs)


def test_the_three_forms_load(write_spec):
    spec = load_spec(write_spec(GOOD + ARCHIVE + moved(
        ("finance", "invoices"), ("old/eastus2", "archive/west"),
        ("x/west/document-model/po", "invoices/west/document-model/po"))), check_env=False)
    assert spec.moves == (Move("finance", "invoices", 0), Move("old/eastus2", "archive/west", 1),
                          Move("x/west/document-model/po", "invoices/west/document-model/po", 2))
    by_rule, by_target, by_address = spec.moves
    assert by_rule.destination("finance/west/document-model/a") == "invoices/west/document-model/a"
    assert by_rule.destination("financed/west/document-model/a") is None
    assert by_target.destination("old/eastus2/analyzer/a") == "archive/west/analyzer/a"
    assert by_address.destination("x/west/document-model/po") == "invoices/west/document-model/po"
    assert by_address.destination("x/west/document-model/po2") is None


@pytest.mark.parametrize("blocks,message", [
    (moved(("finance", "nowhere")), "moved[0].to: unknown rule 'nowhere'; a moved block moves records to a rule of "
                                    "the spec (rules: archive, invoices)"),
    (moved(("finance/west", "invoices/eastus")), "moved[0].to: 'eastus' is not a target of rule 'invoices' (its "
                                                 "targets: west)"),
    (moved(("archive", "invoices")), "moved[0].from: rule 'archive' is still in the spec (replicate[1])"),
    (moved(("invoices/west", "archive/west")), "moved[0].from: 'invoices/west' is still a target of rule 'invoices'"),
    (moved(("a", "b"), ("b", "invoices")), "moved[0].to: 'b' is moved on by moved[1] (from 'b'); moves are not "
                                           "chained: write one block from 'a' straight to"),
    (moved(("a", "b"), ("b", "a")), "moved blocks moved[0], moved[1] form a cycle ('a' -> 'b' -> ... -> 'a')"),
    (moved(("a", "invoices"), ("b", "invoices")), "moved[1].to: 'invoices' is already the destination of moved[0]; "
                                                  "two moves cannot land in one place"),
    (moved(("a", "invoices"), ("a", "archive")), "moved[1].from: 'a' is already moved by moved[0]"),
    (moved(("a", "invoices/west")), "moved[0]: from 'a' and to 'invoices/west' are not the same form"),
    (moved(("a/west/document-model", "invoices/west/document-model")), "moved[0].from: 'a/west/document-model' is "
                                                                       "not a rule name (old-rule)"),
    (moved(("a/west/widget/x", "invoices/west/widget/x")), "(kinds: analyzer, custom-model, document-classifier"),
    (moved(("a/west/document-model/x", "invoices/west/document-model/y")), "moved[0].to: only the rule and the "
                                                                           "target resource of an address can change"),
    (moved(("a/west/document-model/x/y", "invoices/west/document-model/x/y")), "moved[0].from: "
                                                                               "'a/west/document-model/x/y' is not"),
    (moved(("a", "a")), "moved[0]: from and to are both 'a'; remove the block"),
    ('\n[[moved]]\nfrom = "a"\n', "moved[0]: 'to' is required"),
    ('\n[[moved]]\nfrom = "a"\nto = "invoices"\nwhy = "x"\n', "moved[0]: unknown key(s) 'why'"),
])
def test_invalid_blocks_name_the_file_and_field(write_spec, blocks, message):
    path = write_spec(GOOD + ARCHIVE + blocks)
    with pytest.raises(SpecError) as exc:
        load_spec(path, check_env=False)
    assert message in str(exc.value) and str(path) in str(exc.value), str(exc.value)
