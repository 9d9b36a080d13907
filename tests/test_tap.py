"""``twistd mobwrite``: options, settings precedence, start-up failures, the .tac."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from twisted.python import usage

from benchmarks.daemon import ROOT, Daemon, twistd_command
from mobwrite.daemon.tap import ENDPOINTS, Options
from mobwrite.settings import SETTINGS


def parse(*args: str) -> Options:
    options = Options()
    options.parseOptions(list(args))
    return options


def test_defaults_listen_on_loopback() -> None:
    """Every port defaults to 127.0.0.1 (PROTOCOL.md 15.3)."""
    options = parse()
    assert [options[name] for name, _, _ in ENDPOINTS] == [
        "tcp:3017:interface=127.0.0.1:backlog=1024", "tcp:8017:interface=127.0.0.1:backlog=1024",
        "tcp:8000:interface=127.0.0.1:backlog=1024"]
    assert options["settings"].timeout_telnet == 30.0


def test_help_documents_every_option() -> None:
    """--help names each endpoint option and each setting with its default."""
    text = str(Options())
    for name, default, _ in ENDPOINTS:
        assert f"--{name}=" in text and default in text
    for setting in SETTINGS:
        assert f"--{setting.option}=" in text
        assert f"default: {setting.shown_default}]" in " ".join(text.split())


def test_command_line_beats_settings_file(tmp_path: Path) -> None:
    """A setting on the command line overrides the file, which overrides the default."""
    config = tmp_path / "mobwrite.conf"
    config.write_text("; comment\nMAX_CHARS = 50\nTIMEOUT_VIEW = 2 minutes\n")
    settings = parse("--config", str(config), "--max-chars", "70")["settings"]
    assert (settings.max_chars, settings.timeout_view, settings.max_views) == (70, 120.0, 10000)


@pytest.mark.parametrize(("content", "message"), [
    ("MAX_CHARS = lots", "not a whole number"),
    ("TIMEOUT_VIEW = 3 fortnights", "unknown unit"),
    ("LOGGING = LOUD", "not a logging level"),
    ("NO_SUCH = 1", "unknown setting"),
    ("MAX_CHARS 5", "write NAME = value"),
    ("TIMEOUT_TELNET = 0 seconds", "TIMEOUT_TELNET must be more than 0"),
])
def test_bad_settings_file_explains(tmp_path: Path, content: str, message: str) -> None:
    """A bad settings file is refused with a message that says what to write."""
    config = tmp_path / "bad.conf"
    config.write_text(content + "\n")
    with pytest.raises(usage.UsageError, match=message):
        parse("--config", str(config))


def test_bad_endpoint_explains() -> None:
    """An endpoint string that does not parse is refused at option time."""
    with pytest.raises(usage.UsageError, match="not an endpoint"):
        parse("--tcp", "carrier-pigeon:3017")


def test_port_in_use_stops_start_up(tmp_path: Path) -> None:
    """A port that cannot be bound stops twistd with a clear message."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        daemon = Daemon(tmp_path, "--tcp", f"tcp:{port}:interface=127.0.0.1")
        result = subprocess.run(
            daemon.command(), cwd=tmp_path, env=daemon.environment(), capture_output=True, text=True,
            timeout=60)
    assert result.returncode != 0
    assert "cannot listen for the raw TCP protocol" in result.stdout + result.stderr
    assert "Address already in use" in result.stdout + result.stderr


def test_help_runs_through_twistd() -> None:
    """``twistd mobwrite --help`` prints the options."""
    result = subprocess.run(
        twistd_command() + ["mobwrite", "--help"], cwd=ROOT, capture_output=True,
        text=True, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0
    assert "--gateway=" in result.stdout and "--max-views=" in result.stdout


def test_tac_builds_the_same_daemon(tmp_path: Path) -> None:
    """``twistd -ny mobwrite.tac`` serves the protocol like the plugin does."""
    daemon = Daemon(tmp_path, tac=True).start()
    try:
        assert daemon.exchange(b"u:a\nF:0:tacdoc\nr:1:Hi\n\n") == b"F:1:tacdoc\nd:0:=2\n"
    finally:
        daemon.stop()


@pytest.mark.parametrize(("arguments", "message"), [
    (["--max-chars", "lots"],
     "--max-chars: 'lots' is not a whole number such as 0, 10 or 1000"),
    (["--no-such-option"], "option --no-such-option not recognized"),
])
def test_configuration_errors_are_shown_alone(tmp_path: Path, arguments: list[str],
                                              message: str) -> None:
    """Under twistd a bad option gives the error and a hint to --help, not the usage."""
    result = subprocess.run(
        twistd_command() + ["-n", "mobwrite", *arguments], cwd=tmp_path, capture_output=True,
        text=True, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"twistd mobwrite: {message}", "Run 'twistd mobwrite --help' to see every option."]
