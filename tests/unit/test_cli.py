"""The ``terraminer`` command explains itself: a version, help on every subcommand and option, and
every environment variable of the settings in ``--help``."""

from __future__ import annotations

import argparse

import pytest

from core.settings import Settings
from terraminer import cli


def _parsers(parser: argparse.ArgumentParser, path: str = "terraminer"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


PARSERS = list(_parsers(cli.build_parser()))


def test_every_subcommand_is_walked():
    names = {path for path, _ in PARSERS}
    assert {"terraminer demo", "terraminer avm serve", "terraminer avm evaluate", "terraminer ingest"} <= names


@pytest.mark.parametrize("path,parser", PARSERS, ids=[path for path, _ in PARSERS])
def test_every_option_and_subcommand_has_help(path, parser):
    missing = [
        "/".join(action.option_strings) or action.dest
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
    ]
    assert not missing, f"`{path}`: options without help text: {missing}"
    assert (parser.description or "").strip(), f"`{path}` has no description"


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("terraminer ") and out.split()[-1][0].isdigit()


def test_help_lists_every_setting_variable():
    epilog = cli.build_parser().epilog
    for name, field in Settings.model_fields.items():
        assert f"TERRAMINER_{name.upper()}" in epilog
        assert field.description, f"setting {name} has no description for --help"
    assert "TERRAMINER_DEBUG" in epilog and "MLFLOW_TRACKING_URI" in epilog
