"""``drplan state list|show|rm|unlock|pull|push`` and ``drplan adopt``: inspect and repair the state, on any backend.

Each command is a plain function returning an exit code, wrapped in run_command. The state is the one the spec
names (``--spec``), a local file (``--state``), or ``drplan.state.json`` in the working directory. Commands that
change the state take its lock (``--lock-timeout`` waits for it) and read it again under the lock.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from drplan.cli.app import DURATION, cli, run_async, run_command
from drplan.errors import EXIT_OK, StateError
from drplan.plan.moves import move_record
from drplan.spec.load import load_spec
from drplan.state.manager import StateManager


def _manager(spec_path: str | None, state_path: str | None) -> StateManager:
    from drplan.core import state_manager

    if state_path:
        return state_manager(Path(state_path))
    if spec_path:
        return state_manager(load_spec(spec_path, check_env=False).state)
    return state_manager(Path("drplan.state.json"))


def _no_state(manager: StateManager) -> StateError:
    return StateError(f"{manager.backend.describe()}: no state yet (nothing has been applied)")


def _load_state(spec_path: str | None, state_path: str | None) -> StateManager:
    manager = _manager(spec_path, state_path)
    manager.load()
    if not manager.exists:
        raise _no_state(manager)
    return manager


def _interactive() -> bool:
    """Ask for confirmation only when a person can answer (never in a pipeline: stdin is not a terminal)."""
    return sys.stdin is not None and sys.stdin.isatty()


# -- list / show ----------------------------------------------------------------------------------------------------
def state_list_cmd(spec_path: str | None, state_path: str | None) -> int:
    manager = _load_state(spec_path, state_path)
    st = manager.state
    assert st is not None
    for addr in sorted(st.resources):
        click.echo(addr)
    for addr, entry in sorted(st.journal.items()):
        click.echo(f"{addr}  (in progress: {entry['step']} since {entry['updated']})")
    return EXIT_OK


def state_show_cmd(address: str, spec_path: str | None, state_path: str | None) -> int:
    manager = _load_state(spec_path, state_path)
    st = manager.state
    assert st is not None
    rec = st.resources.get(address)
    entry = st.journal.get(address)
    if rec is None and entry is None:
        raise StateError(f"no address {address!r} in state; see drplan state list")
    doc: dict[str, Any] = {"address": address}
    if rec is not None:
        doc["record"] = rec
    if entry is not None:
        doc["journal"] = entry
    click.echo(json.dumps(doc, indent=2, sort_keys=True))
    return EXIT_OK


# -- rm -------------------------------------------------------------------------------------------------------------
def state_rm_cmd(addresses: tuple[str, ...], spec_path: str | None, state_path: str | None,
                 lock_timeout: float = 0.0) -> int:
    manager = _manager(spec_path, state_path)
    with manager.locked("state rm", timeout=lock_timeout) as st:
        if not manager.exists:
            raise _no_state(manager)
        missing = [a for a in addresses if a not in st.resources and a not in st.journal]
        if missing:
            raise StateError(f"not in state: {', '.join(missing)}; nothing was removed (see drplan state list)")
        for addr in addresses:
            st.resources.pop(addr, None)
            st.journal.pop(addr, None)
        manager.persist()
        serial = st.serial
    click.echo(f"Removed {len(addresses)} address(es) from the state (now serial {serial}). The copies themselves "
               "are untouched: drplan no longer manages them (drplan adopt takes one back).")
    return EXIT_OK


# -- mv -------------------------------------------------------------------------------------------------------------
def _split_address(address: str) -> tuple[str, str, str, str]:
    parts = address.split("/")
    if len(parts) < 4 or not all(parts[:3]) or not "/".join(parts[3:]):
        raise StateError(f"{address!r} is not an address <rule>/<target-resource>/<kind>/<id> (see drplan state list)")
    return parts[0], parts[1], parts[2], "/".join(parts[3:])


def state_mv_cmd(old: str, new: str, spec_path: str | None, state_path: str | None, lock_timeout: float = 0.0) -> int:
    """Record under NEW what was recorded under OLD: a rule or a target resource renamed in the spec keeps its copies
    (no recopy). Only the rule and target-resource parts may change; the kind and the copy's id are the copy's own.
    A ``[[moved]]`` block in the spec does the same through plan and apply (reviewed, no lock needed by hand)."""
    _, _, o_kind, o_id = _split_address(old)
    _, _, n_kind, n_id = _split_address(new)
    if (o_kind, o_id) != (n_kind, n_id):
        raise StateError(f"state mv {old} {new}: only the rule and the target resource of an address can change (the "
                         f"kind and id name the copy itself: {o_kind}/{o_id}); nothing was moved")
    manager = _manager(spec_path, state_path)
    with manager.locked("state mv", timeout=lock_timeout) as st:
        if not manager.exists:
            raise _no_state(manager)
        if old not in st.resources and old not in st.journal:
            raise StateError(f"not in state: {old}; nothing was moved (see drplan state list)")
        if new in st.resources or new in st.journal:
            raise StateError(f"{new} is already in the state; nothing was moved (drplan state rm it first if it is "
                             "stale)")
        move_record(st, old, new)  # the one rewrite, shared with [[moved]] blocks (plan and apply)
        manager.persist()
        serial = st.serial
    click.echo(f"Moved {old} to {new} (state serial {serial}); the copy itself is untouched.")
    return EXIT_OK


# -- unlock ---------------------------------------------------------------------------------------------------------
def state_unlock_cmd(lock_id: str, spec_path: str | None, state_path: str | None) -> int:
    manager = _manager(spec_path, state_path)
    where = manager.backend.describe()
    holder = manager.backend.read_lock()
    if holder is None:
        click.echo(f"The state {where} is not locked; nothing to do.")
        return EXIT_OK
    if holder.id != lock_id:
        raise StateError(f"{where}: lock id {lock_id!r} does not match the held lock ({holder.describe()}); "
                         "nothing was unlocked")
    click.echo(f"The state {where} is locked by {holder.describe()}.")
    if _interactive():
        click.echo("Unlocking it while that run is still alive lets two runs change the state at once.")
        typed = click.prompt("Type the lock id again to unlock it", default="", show_default=False)
        if typed.strip() != lock_id:
            raise StateError("the lock id typed does not match; nothing was unlocked")
    manager.backend.unlock(lock_id)
    click.echo("Unlocked.")
    return EXIT_OK


# -- pull / push ----------------------------------------------------------------------------------------------------
def state_pull_cmd(spec_path: str | None, state_path: str | None) -> int:
    manager = _manager(spec_path, state_path)
    raw = manager.pull()
    if raw is None:
        raise _no_state(manager)
    click.echo(raw.decode("utf-8"), nl=False)
    return EXIT_OK


def state_push_cmd(file: str, force: bool, spec_path: str | None, state_path: str | None,
                   lock_timeout: float = 0.0) -> int:
    try:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise StateError(f"{file}: cannot read: {exc.strerror}") from None
    manager = _manager(spec_path, state_path)
    source = "stdin" if file == "-" else file
    manager.backend.lock("state push", timeout=lock_timeout)
    try:
        before, after = manager.push(raw, source=source, force=force)
    finally:
        manager.backend.unlock()
    where = manager.backend.describe()
    if before == after:
        click.echo(f"{source} is already the state at {where} (serial {after}); nothing to do.")
    else:
        was = "no state" if before is None else f"serial {before}"
        click.echo(f"Pushed {source} to {where}: {was} -> serial {after}.")
    return EXIT_OK


# -- adopt ----------------------------------------------------------------------------------------------------------
_EVIDENCE = {
    "lineage-tags": "its drplan lineage tags name this source version",
    "heuristic": "no lineage tags; its expirationDateTime and docTypes digest equal the source's",
    "asserted": "no lineage tags and no heuristic match; recorded because --assert-copy says so",
}


def adopt_cmd(spec_path: str, address: str, lock_timeout: float = 0.0, assert_copy: bool = False) -> int:
    from drplan.core import adopt

    spec = load_spec(spec_path)
    record, added = run_async(adopt(spec, address, lock_timeout=lock_timeout, assert_copy=assert_copy))
    what = f"{record['target_resource']}/{record['target_id']}"
    if added:
        evidence = _EVIDENCE.get(str(record.get("adopted")), "its content equals the source's")
        click.echo(f"Adopted {address}: {what} is a copy of {record['source_resource']}/{record['source_id']} "
                   f"({record['source_fingerprint']}); evidence: {evidence}; recorded in the state.")
    else:
        click.echo(f"{address} is already recorded in the state with this copy; nothing to do.")
    return EXIT_OK


# -- click ----------------------------------------------------------------------------------------------------------
_spec_opt = click.option("--spec", "spec_path", type=click.Path(dir_okay=False), help="Use the state the spec names.")
_state_opt = click.option("--state", "state_path", type=click.Path(dir_okay=False), help="A local state file.")
_lock_opt = click.option("--lock-timeout", type=DURATION, default="0s", show_default=True,
                         help="How long to wait for the state lock: 30s, 5m, 1h or seconds.")


@cli.group("state")
def state_group() -> None:
    """Inspect and repair the state (local file or Azure blob)."""


@state_group.command("list")
@_spec_opt
@_state_opt
def state_list(spec_path: str | None, state_path: str | None) -> None:
    """List the addresses recorded in state (and in-flight journal entries)."""
    run_command(state_list_cmd, spec_path, state_path)


@state_group.command("show")
@click.argument("address")
@_spec_opt
@_state_opt
def state_show(address: str, spec_path: str | None, state_path: str | None) -> None:
    """Show one address's record and journal entry as JSON."""
    run_command(state_show_cmd, address, spec_path, state_path)


@state_group.command("rm")
@click.argument("addresses", metavar="ADDRESS...", nargs=-1, required=True)
@_spec_opt
@_state_opt
@_lock_opt
def state_rm(addresses: tuple[str, ...], spec_path: str | None, state_path: str | None, lock_timeout: float) -> None:
    """Forget addresses (their records and journal entries); the copies themselves are not touched."""
    run_command(state_rm_cmd, addresses, spec_path, state_path, lock_timeout)


@state_group.command("mv")
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@_spec_opt
@_state_opt
@_lock_opt
def state_mv(old: str, new: str, spec_path: str | None, state_path: str | None, lock_timeout: float) -> None:
    """Move a record from address OLD to NEW after renaming its rule or target resource in the spec, so the copy is
    kept instead of copied again (the copy itself is not touched)."""
    run_command(state_mv_cmd, old, new, spec_path, state_path, lock_timeout)


@state_group.command("unlock")
@click.argument("lock_id")
@_spec_opt
@_state_opt
def state_unlock(lock_id: str, spec_path: str | None, state_path: str | None) -> None:
    """Release the state lock LOCK_ID left by a run that is gone (shows the holder; asks to type the id again on a
    terminal)."""
    run_command(state_unlock_cmd, lock_id, spec_path, state_path)


@state_group.command("pull")
@_spec_opt
@_state_opt
def state_pull(spec_path: str | None, state_path: str | None) -> None:
    """Print the state JSON exactly as stored."""
    run_command(state_pull_cmd, spec_path, state_path)


@state_group.command("push")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--force", is_flag=True,
              help="Replace a state of another lineage, or one whose serial is not lower than FILE's.")
@_spec_opt
@_state_opt
@_lock_opt
def state_push(file: str, force: bool, spec_path: str | None, state_path: str | None, lock_timeout: float) -> None:
    """Replace the state with FILE ('-': stdin): same lineage and a higher serial, unless --force."""
    run_command(state_push_cmd, file, force, spec_path, state_path, lock_timeout)


@cli.command("adopt")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.argument("address")
@_lock_opt
@click.option("--assert-copy", is_flag=True,
              help="Document Intelligence / Form Recognizer v3: record the copy even without lineage tags or a "
                   "heuristic match (you state that it is a copy of the source version the spec selects).")
def adopt_command(spec: str, address: str, lock_timeout: float, assert_copy: bool) -> None:
    """Record an existing target copy in state at ADDRESS, after checking live that it matches its source.

    Document Intelligence / Form Recognizer v3 evidence, strongest first: the copy's drplan lineage tags; equal
    expirationDateTime and docTypes digest (a copy keeps both from its source); --assert-copy."""
    run_command(adopt_cmd, spec, address, lock_timeout, assert_copy)
