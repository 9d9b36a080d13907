"""Configuration: precedence, --help and docs/operating.md agree with the table, bad values stop start-up."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from twisted.python import usage

from benchmarks.daemon import ROOT, twistd_command
from mobwrite.daemon.tap import Options
from mobwrite.settings import SETTINGS


def options_table() -> str:
    """docs/operating.md's table of every option, generated from the options themselves."""
    settings = {setting.option: setting for setting in SETTINGS}
    rows = ["| Option | Settings file | Default | Meaning |", "| --- | --- | --- | --- |"]
    for name, _, default, help_text in Options.optParameters:
        setting = settings.get(name)
        if setting is None:
            shown = "(none)" if default is None else f"`{default}`"
            rows.append(f"| `--{name}` | | {shown} | {help_text} |")
        else:
            rows.append(f"| `--{name}` | `{setting.name}` | `{setting.shown_default}` "
                        f"| {setting.help} |")
    return "\n".join(rows) + "\n"


def run_twistd(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real ``twistd -n mobwrite`` with *arguments* until it exits."""
    return subprocess.run(
        twistd_command() + ["-n", "--pidfile=", "mobwrite", *arguments],
        cwd=cwd, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )


def parsed(*arguments: str) -> Options:
    options = Options()
    options.parseOptions(list(arguments))
    return options


def test_command_line_beats_file_beats_default(tmp_path: Path) -> None:
    """A value on the command line wins over the file, which wins over the default."""
    config = tmp_path / "mobwrite.conf"
    config.write_text("; comment\nMAX_CHARS = 500\nTIMEOUT_VIEW = 2 hours\n")
    settings = parsed("--config", str(config), "--max-chars", "70")["settings"]
    assert settings.max_chars == 70
    assert settings.timeout_view == 7200
    assert settings.max_views == 10000


def test_help_shows_every_setting_with_its_default(tmp_path: Path) -> None:
    """``twistd mobwrite --help`` names every setting, its option and its default."""
    result = run_twistd("--help", cwd=tmp_path)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for setting in SETTINGS:
        assert f"--{setting.option}=" in text
        assert f"[{setting.name}; default: {setting.shown_default}]" in text


def test_operating_guide_lists_every_option() -> None:
    """docs/operating.md holds the table generated from the options (regenerate it on change)."""
    guide = (ROOT / "docs" / "operating.md").read_text(encoding="utf-8")
    expected = options_table()
    assert expected in guide, "docs/operating.md's options table is stale; replace it with:\n" + expected


def test_every_default_round_trips_through_its_parser() -> None:
    """The default shown in --help and docs/operating.md is a valid value for the setting."""
    for setting in SETTINGS:
        if setting.shown_default != "(empty)":
            assert setting.parse(setting.shown_default) == setting.default


@pytest.mark.parametrize(("arguments", "config", "message"), [
    ((), "TIMEOUT_VIEW = 30 fortnights\n",
     "line 1: TIMEOUT_VIEW: unknown unit 'fortnights' in '30 fortnights'; "
     "use seconds, minutes, hours or days"),
    ((), "MAX_CHARZ = 10\n", "line 1: unknown setting 'MAX_CHARZ'; known settings are"),
    ((), "LOGGING = LOUD\n", "'LOUD' is not a logging level; use one of CRITICAL"),
    ((), "MAX_CHARS 10\n", "write NAME = value, not 'MAX_CHARS 10'"),
    (("--max-chars", "lots"), "", "--max-chars: 'lots' is not a whole number such as 0, 10"),
    (("--shared-workers", "0"), "", "--shared-workers: '0' is not a whole number of 1 or more"),
    (("--log-format", "xml"), "", "'xml' is not a log format; use text"),
    (("--timeout-telnet", "0"), "", "TIMEOUT_TELNET must be more than 0 seconds, such as 30"),
    (("--tcp", "tcp:port"), "", "is not an endpoint"),
    (("--tcp", "systemd:domain=INET:index=0"), "",
     "no socket was passed at that index; start the daemon through its systemd socket unit"),
])
def test_bad_values_stop_start_up_with_advice(
    tmp_path: Path, arguments: tuple[str, ...], config: str, message: str,
) -> None:
    """A bad setting makes the real daemon exit non-zero, saying what to write instead."""
    path = tmp_path / "bad.conf"
    path.write_text(config)
    result = run_twistd("--config", str(path), *arguments, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert "listening" not in result.stdout


def test_unreadable_settings_file_stops_start_up(tmp_path: Path) -> None:
    """A --config that cannot be read is named in the error, with what to give instead."""
    result = run_twistd("--config", str(tmp_path), cwd=tmp_path)
    assert result.returncode != 0
    assert f"cannot read --config {tmp_path}" in result.stderr + result.stdout
    assert "give the path of a readable UTF-8 file of NAME = value lines" in result.stderr


def test_unknown_option_stops_start_up(tmp_path: Path) -> None:
    """An option mobwrite does not have is refused by name."""
    result = run_twistd("--max-charz", "5", cwd=tmp_path)
    assert result.returncode != 0
    assert re.search(r"option --max-charz not recognized", result.stderr + result.stdout)


def test_missing_settings_file_is_an_error() -> None:
    """Parsing (without a subprocess) refuses a --config path that does not exist."""
    with pytest.raises(usage.UsageError, match="cannot read --config /nonexistent/mobwrite.conf"):
        parsed("--config", "/nonexistent/mobwrite.conf")
