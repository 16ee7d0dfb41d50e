"""``drplan demo``: the main job end to end against the bundled emulator, in a temporary directory."""

from __future__ import annotations

import os
import re
import tempfile
from importlib import resources
from pathlib import Path

import click

from drplan.cli.app import cli, run_command
from drplan.errors import EXIT_OK, DrplanError

DEMO_KEYS = {  # emulator-only keys of the demo accounts (drplan/demo/emulator.toml); not secrets of anything real
    "DRPLAN_DEMO_EASTUS_KEY": "demo-key-eastus-0f3c",
    "DRPLAN_DEMO_WESTUS2_KEY": "demo-key-westus2-9a71",
    "DRPLAN_DEMO_SWEDEN_KEY": "demo-key-sweden-44d2",
    "DRPLAN_DEMO_ARM_TOKEN": "demo-arm-token-not-a-secret",  # the emulator's management API ([management] token)
}


def _banner(text: str) -> None:
    click.echo("\n" + click.style(f"==> {text}", bold=True))


def demo_cmd(workdir: str | None) -> int:
    from drplan.cli.commands import apply_cmd, plan_cmd
    from drplan.cli.state_cmds import state_list_cmd
    from drplan.emulator.launch import start_emulator

    if workdir:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        return _run(Path(workdir), start_emulator, plan_cmd, apply_cmd, state_list_cmd, True)
    with tempfile.TemporaryDirectory(prefix="drplan-demo-") as tmp:
        return _run(Path(tmp), start_emulator, plan_cmd, apply_cmd, state_list_cmd, False)


def _run(work: Path, start_emulator, plan_cmd, apply_cmd, state_list_cmd, keep: bool) -> int:  # type: ignore[no-untyped-def]
    pkg = resources.files("drplan.demo")
    config = work / "emulator.toml"
    config.write_text(pkg.joinpath("emulator.toml").read_text(encoding="utf-8"), encoding="utf-8")
    os.environ.update(DEMO_KEYS)
    _banner(f"Starting the bundled emulator (3 accounts in 3 regions), working in {work}")
    with start_emulator(config) as emu:
        click.echo(f"emulator listening on {emu.url}")
        spec = work / "dr.toml"
        template = pkg.joinpath("dr.toml.in").read_text(encoding="utf-8")
        # each account is an origin of its own (its host:port), as a real resource is a host: {endpoint:NAME}
        template = template.replace("{management}", emu.url)  # its management (ARM) API is at the admin origin
        spec.write_text(re.sub(r"\{endpoint:([A-Za-z0-9._-]+)\}", lambda m: emu.account_url(m.group(1)), template), encoding="utf-8")
        old = os.getcwd()
        os.chdir(work)
        try:
            _banner("drplan plan dr.toml -o plan.json")
            code = plan_cmd("dr.toml", "plan.json", True, False, "human", False)
            if code not in (0, 2):
                raise DrplanError("the demo's plan failed")
            _banner("drplan apply plan.json")
            apply_cmd("plan.json", False, None, 0.0, None, False, False, False)
            _banner("drplan state list --spec dr.toml")
            state_list_cmd("dr.toml", None)
            _banner("drplan plan dr.toml --detailed-exitcode   (expect: no changes)")
            code = plan_cmd("dr.toml", None, True, False, "human", False)
            if code != EXIT_OK:
                raise DrplanError("the demo's second plan still shows changes; the apply did not converge")
            drill_code = _drill_and_map(work, keep)
        finally:
            os.chdir(old)
        if drill_code != EXIT_OK:
            raise DrplanError("the demo's drill found copies that are not ready (see above)")
    _banner("Demo complete: every model, the classifier and the analyzers have a copy in both DR regions, and the "
            "NER project is imported, trained and deployed in West US 2.")
    click.echo(f"The spec, plan and state are in {work}" if keep else
               "The temporary directory is removed now; run drplan demo --dir DIR to keep the spec, plan and state.")
    return EXIT_OK


def _drill_and_map(work: Path, keep: bool) -> int:
    """The demo's last step (issue 16): a drill of every copy, then the failover map an application loads."""
    from drplan.cli.failover_cmds import drill_cmd, output_cmd

    _banner("drplan drill dr.toml   (expect: every copy ready)")
    code = drill_cmd("dr.toml", "human", (), 8, None, 60.0)
    _banner("drplan output dr.toml -o failover.json")
    output_cmd("dr.toml", "json", (), (), (), "failover.json")
    where = f"The failover map is {work / 'failover.json'}" if keep else \
        "The failover map was written to failover.json in the temporary directory (drplan demo --dir DIR keeps it)"
    click.echo(f"{where}; drplan output dr.toml --format env|markdown gives the other forms (README: \"Failing over\").")
    return code


@cli.command("demo")
@click.option("--dir", "workdir", type=click.Path(file_okay=False), help="Work here instead of a temporary directory.")
def demo(workdir: str | None) -> None:
    """Start the bundled emulator, plan, apply, and plan again (no changes)."""
    run_command(demo_cmd, workdir)
