"""One sealed plan per service family, built by the real planner from the family tests' own fixtures, for the plan
format tests (tests/plan/test_plan_model.py):

* ``document-intelligence``: the renderers' sample (create, replace, delete, no-op; an encryption downgrade, errors,
  warnings, tags);
* ``form-recognizer-v2``: a retrained source (a create-before-destroy replace) and a create;
* ``content-understanding``: a GA deployment override (a /defaults update, ``depends_on``, ``deployments``,
  ``settings``, the ``deployment_overrides`` flag);
* ``language``: a destructive replace with a diff, training settings, the source's and target's content digests and
  the target's ``modified``.

``tests/plan/fixtures/plan-1.1-<family>.json`` are these plans as drplan wrote them before the plan was typed in
memory (issue 14), kept to prove that saved 1.1 plans still load, byte for byte.
"""

from __future__ import annotations

import copy
from typing import Any

from families import test_cu_plan as cu
from families import test_fr_v2_plan as fr2
from families import test_language_plan as lang
from helpers import inventory
from render.test_renderers import sample_plan

from drplan.plan.planfile import seal
from drplan.plan.planner import build_plan
from drplan.state.model import State

CREATED = "2026-01-01T00:00:00+00:00"
LINEAGE = "11111111-2222-3333-4444-555555555555"


def _fr_v2() -> Any:
    state = State(lineage=LINEAGE, serial=2)  # serial 2: the source now has lastUpdatedDateTime U2
    state.resources[fr2.ADDR] = fr2.recorded()
    invs = {"src": inventory("src", fr2.v2model(fr2.SRC_ID, fr2.U2), fr2.v2model("inv-2", fr2.U1)),
            "west": inventory("west", fr2.v2model("copy-1", fr2.U1))}
    return build_plan(fr2.spec(), invs, state, state_existed=True,
                      created_at=CREATED)


def _cu() -> Any:
    spec = cu.spec_for(deployments={"west": {"completion": "gpt41-dr"}})
    invs = {"src": cu.inv("src", cu.analyzer("inv")), "west": cu.inv("west"), "north": cu.inv("north")}
    return cu.plan_for(spec, invs)


def _language() -> Any:
    old = lang.exported()
    new = lang.exported(entities=("Party", "Date", "Amount"),
                        documents=[lang.doc("doc1.txt", ("Party", 0, 5), ("Amount", 10, 10)),
                                   lang.doc("doc3.txt", ("Amount", 1, 2))])
    state = State(lineage=LINEAGE, serial=1)
    state.resources[lang.ADDR] = lang.record(export=old)
    return lang.plan_for(lang.spec_for(train=lang.TRAIN), {
        "src": lang.inv("src", lang.project(modified=lang.T2, export=new)),
        "west": lang.inv("west", lang.project(modified=lang.T1, export=copy.deepcopy(old),
                                              models=[lang.model(trained=lang.T1)],
                                              deployments=[lang.deployment()]))}, state)


def family_plans() -> dict[str, Any]:
    """family -> a sealed plan of that family."""
    return {
        "document-intelligence": sample_plan(),
        "form-recognizer-v2": seal(_fr_v2()),
        "content-understanding": seal(_cu()),
        "language": seal(_language()),
    }
