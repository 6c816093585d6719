"""Docs that match the code: every command has help with an example, the reference is current."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest
from click.testing import CliRunner

from booktape.cli import cli

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = sorted(cli.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(name):
    r = CliRunner().invoke(cli, [name, "--help"])
    assert r.exit_code == 0
    assert "Example" in r.output, f"`booktape {name} --help` needs an Example: line"


def test_cli_reference_is_generated_from_the_current_code():
    gen = runpy.run_path(str(ROOT / "docs" / "gen_cli_reference.py"))
    current = (ROOT / "docs" / "cli-reference.md").read_text(encoding="utf-8")
    assert current == gen["render"](), "run `python docs/gen_cli_reference.py`"


def test_readme_first_screen_has_exactly_two_setup_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = readme.split("\n## ", 3)
    setup = next(s for s in first if s.startswith("Set up"))
    block = re.search(r"```sh\n(.*?)```", setup, re.S).group(1)
    cmds = [ln for ln in block.splitlines() if ln.strip()]
    assert [c.split()[0:2] for c in cmds] == [["make", "demo"], ["make", "test"]]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    make = (ROOT / "Makefile").read_text()
    assert "pytest" in make.split("test:", 1)[1].split("\n\n")[0]


def test_readme_mentions_every_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [c for c in COMMANDS if f"booktape {c}" not in readme]
    assert not missing, f"README does not show: {missing}"
