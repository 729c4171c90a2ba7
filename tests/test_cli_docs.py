"""Every command is documented: `--help` works and shows an example (as sqlite-utils does)."""

import pytest
import typer
from typer.testing import CliRunner

from factory.cli import app

runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)


def test_top_level_help_lists_every_command():
    result = runner.invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_has_an_example(name):
    result = runner.invoke(app, [name, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`factory {name} --help` shows no example"


def test_cli_is_typer():
    assert isinstance(app, typer.Typer)
