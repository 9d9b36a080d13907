"""The example files in deploy/ parse, run commands that exist, and agree on ports."""

from __future__ import annotations

import configparser
import shlex
import sys
from pathlib import Path
from typing import Any

import crossplane
import pytest
from gunicorn.app.wsgiapp import WSGIApplication
from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
from twisted.scripts.twistd import ServerOptions

from benchmarks.daemon import ROOT
from mobwrite import wsgi
from mobwrite.client import relay
from mobwrite.client.relay import DaemonAddress
from mobwrite.core.httpform import Limits
from mobwrite.daemon import editor, tap
from mobwrite.settings import Settings
from twisted.plugins import mobwrite_plugin

DEPLOY = ROOT / "deploy"
# Where the examples expect the virtual environment and the gunicorn settings.
INSTALLED = {"/opt/mobwrite/bin/": str(Path(sys.executable).parent) + "/",
             "/etc/mobwrite/": str(DEPLOY) + "/"}


def local(path: str) -> str:
    """The example's installed path, mapped into this checkout."""
    for prefix, here in INSTALLED.items():
        if path.startswith(prefix):
            return here + path[len(prefix):]
    return path


def supervisor_programs() -> dict[str, configparser.SectionProxy]:
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    parser.read_string((DEPLOY / "supervisord.conf").read_text(encoding="utf-8"))
    return {name.removeprefix("program:"): parser[name]
            for name in parser.sections() if name.startswith("program:")}


def daemon_options() -> ServerOptions:
    """The supervisord daemon command, parsed by twistd and the mobwrite plugin."""
    argv = shlex.split(supervisor_programs()["mobwrite"]["command"])
    assert Path(local(argv[0])).is_file(), argv[0]
    options = ServerOptions()
    options.parseOptions(argv[1:])
    return options


def endpoint_port(endpoint: str) -> int:
    kind, port, *_ = endpoint.split(":")
    assert kind == "tcp"
    return int(port)


def gunicorn_application(monkeypatch: pytest.MonkeyPatch) -> WSGIApplication:
    """The supervisord WSGI command, read by gunicorn's own runner as it would run it."""
    argv = shlex.split(supervisor_programs()["mobwrite-wsgi"]["command"])
    assert Path(argv[0]).name == "gunicorn"
    assert Path(local(argv[0])).is_file(), argv[0]
    monkeypatch.setattr(sys, "argv", [local(arg) for arg in argv])
    return WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]")


def supervisor_environment(program: str) -> dict[str, str]:
    """supervisord's KEY="value",KEY2="value" environment line."""
    line = supervisor_programs()[program].get("environment", "")
    return dict(pair.split("=", 1) for pair in shlex.split(line.replace(",", " ")))


def nginx_config(tmp_path: Path, snippet: str) -> Any:
    """Parse *snippet* where it belongs, in the http block of a main nginx.conf."""
    (tmp_path / "mobwrite.conf").write_text(snippet, encoding="utf-8")
    main = tmp_path / "nginx.conf"
    main.write_text(f"events {{}}\nhttp {{\n    include {tmp_path / 'mobwrite.conf'};\n}}\n",
                    encoding="utf-8")
    return crossplane.parse(str(main), check_ctx=True, check_args=True)


def blocks(config: Any, directive: str) -> list[dict[str, Any]]:
    found = []
    for entry in config:
        if entry["directive"] == directive:
            found.append(entry)
        found.extend(blocks(entry.get("block", []), directive))
    return found


def test_supervisord_runs_the_mobwrite_plugin_in_the_foreground() -> None:
    """The daemon program runs twistd's mobwrite plugin, undaemonized, with options it accepts."""
    options = daemon_options()
    assert options.subCommand == "mobwrite"
    assert any(plugin.tapname == "mobwrite" for plugin in getPlugins(IServiceMaker))
    assert mobwrite_plugin.mobwrite.options is tap.Options
    # supervisord can only watch a process that stays in the foreground.
    assert options["nodaemon"]
    assert options["logfile"] == "-"
    assert options.subOptions["data-dir"] == "/var/lib/mobwrite"
    programs = supervisor_programs()
    assert programs["mobwrite"].getboolean("autorestart")
    assert programs["mobwrite"]["stopsignal"] == "TERM"
    # The daemon starts before the gateways that forward to it, and stops after them.
    assert programs["mobwrite"].getint("priority") < programs["mobwrite-wsgi"].getint("priority")


def test_supervisord_runs_gunicorn_with_the_gateway_application(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The WSGI program runs gunicorn on deploy/gunicorn.conf.py, which names our application."""
    gunicorn = gunicorn_application(monkeypatch)
    cfg = gunicorn.cfg
    assert cfg.wsgi_app == "mobwrite.wsgi:application"
    assert gunicorn.load() is wsgi.application
    assert cfg.bind == ["127.0.0.1:8018"]
    assert cfg.worker_class_str == "gthread"
    # A worker must outlive the gateway's own waits: connecting, then the answer.
    assert cfg.timeout > 2 * relay.DEFAULT_TIMEOUT


def test_the_wsgi_gateway_is_pointed_at_the_daemon_tcp_port() -> None:
    """MOBWRITE_DAEMON given to the WSGI program is the daemon program's --tcp port."""
    daemon = daemon_options().subOptions
    environment = supervisor_environment("mobwrite-wsgi")
    address = DaemonAddress.parse(environment["MOBWRITE_DAEMON"])
    assert address == DaemonAddress("127.0.0.1", endpoint_port(daemon["tcp"]))
    assert environment["MOBWRITE_EDITOR_URL"] == "/"


def test_the_daemon_ports_are_the_defaults() -> None:
    """The supervisord command spells out the same endpoints the daemon uses by default."""
    daemon = daemon_options().subOptions
    assert {name: daemon[name] for name, _, _ in tap.ENDPOINTS} == {
        name: default for name, default, _ in tap.ENDPOINTS}


def test_nginx_snippet_is_valid_in_an_http_block(tmp_path: Path) -> None:
    """nginx.conf parses with every directive in a place and with arguments nginx accepts."""
    parsed = nginx_config(tmp_path, (DEPLOY / "nginx.conf").read_text(encoding="utf-8"))
    assert parsed["status"] == "ok", parsed["errors"]


def test_nginx_check_catches_a_broken_snippet(tmp_path: Path) -> None:
    """The same check fails on the snippet with its last brace missing."""
    text = (DEPLOY / "nginx.conf").read_text(encoding="utf-8").rstrip().removesuffix("}")
    parsed = nginx_config(tmp_path, text)
    assert parsed["status"] == "failed"


def test_nginx_serves_editor_and_gateway_from_the_daemon_ports(tmp_path: Path) -> None:
    """/ goes to the --editor port; /scripts/q.py and /gateway/ to the --gateway port."""
    parsed = nginx_config(tmp_path, (DEPLOY / "nginx.conf").read_text(encoding="utf-8"))
    config = parsed["config"][1]["parsed"]
    upstreams = {block["args"][0]: [server["args"][0] for server in block["block"]]
                 for block in blocks(config, "upstream")}
    routes = {tuple(block["args"]): proxy["args"][0]
              for block in blocks(config, "location")
              for proxy in blocks(block["block"], "proxy_pass")}
    daemon = daemon_options().subOptions
    editor = f"127.0.0.1:{endpoint_port(daemon['editor'])}"
    gateway = f"127.0.0.1:{endpoint_port(daemon['gateway'])}"
    assert routes == {
        ("/",): "http://mobwrite_editor",
        ("=", "/scripts/q.py"): "http://mobwrite_gateway/",
        ("=", "/gateway/"): "http://mobwrite_gateway/",
        ("=", "/ws"): "http://mobwrite_gateway",
    }
    assert upstreams == {"mobwrite_editor": [editor], "mobwrite_gateway": [gateway]}


def test_nginx_lets_the_gateway_answer_for_itself(tmp_path: Path) -> None:
    """nginx passes bodies up to the gateway's cap and waits longer than the gateway does."""
    parsed = nginx_config(tmp_path, (DEPLOY / "nginx.conf").read_text(encoding="utf-8"))
    [server] = [entry["block"] for entry in blocks(parsed["config"][1]["parsed"], "server")
                if "block" in entry]
    settings = {entry["directive"]: entry["args"] for entry in server}
    megabytes = int(settings["client_max_body_size"][0].removesuffix("m"))
    assert megabytes * 1024 * 1024 >= Limits.from_settings(Settings.defaults()).body_bytes
    seconds = int(settings["proxy_read_timeout"][0].removesuffix("s"))
    assert seconds > 2 * relay.DEFAULT_TIMEOUT


def test_nginx_keeps_the_operator_pages_private(tmp_path: Path) -> None:
    """/status (every document's name) is denied; /metrics is never routed to the gateway."""
    parsed = nginx_config(tmp_path, (DEPLOY / "nginx.conf").read_text(encoding="utf-8"))
    config = parsed["config"][1]["parsed"]
    location = next(block for block in blocks(config, "location")
                    if block["args"] == ["=", "/status"])
    assert [entry["args"] for entry in blocks(location["block"], "deny")] == [["all"]]
    assert not blocks(location["block"], "proxy_pass")
    assert all(block["args"][-1] in ("/", "/scripts/q.py", "/gateway/", "/config.js", "/status",
                                     "/ws")
               for block in blocks(config, "location"))


def test_nginx_passes_the_websocket_upgrade_and_outwaits_its_pings(tmp_path: Path) -> None:
    """/ws goes to the gateway with the Upgrade headers, and nginx waits past a ping."""
    parsed = nginx_config(tmp_path, (DEPLOY / "nginx.conf").read_text(encoding="utf-8"))
    location = next(block for block in blocks(parsed["config"][1]["parsed"], "location")
                    if block["args"] == ["=", "/ws"])
    headers = {tuple(entry["args"]) for entry in blocks(location["block"], "proxy_set_header")}
    assert {("Upgrade", "$http_upgrade"), ("Connection", "upgrade")} <= headers
    [timeout] = blocks(location["block"], "proxy_read_timeout")
    defaults = Settings.defaults()
    assert int(timeout["args"][0].removesuffix("s")) > (
        defaults.websocket_ping_interval + defaults.websocket_ping_timeout)


def test_nginx_tells_the_editor_pages_where_the_gateway_is(tmp_path: Path) -> None:
    """/config.js is answered by nginx with the daemon's module, naming the published path."""
    parsed = nginx_config(tmp_path, (DEPLOY / "nginx.conf").read_text(encoding="utf-8"))
    config = parsed["config"][1]["parsed"]
    location = next(block for block in blocks(config, "location")
                    if block["args"] == ["=", "/config.js"])
    status, text = blocks(location["block"], "return")[0]["args"]
    # nginx turns \n inside a quoted string into a line break.
    module = text.replace("\\n", "\n")
    daemon_module = editor.config_module("/scripts/q.py").decode("utf-8")
    assert status == "200"
    assert module.splitlines() == [
        line for line in daemon_module.splitlines() if not line.startswith("//")]


def test_operating_guide_deploying_names_the_files_of_each_topology() -> None:
    """docs/operating.md's Deploying section points to each example file and the systemd unit."""
    guide = (ROOT / "docs" / "operating.md").read_text(encoding="utf-8")
    deploying = guide.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]
    for name in ("supervisord.conf", "gunicorn.conf.py", "nginx.conf", "mobwrite.service"):
        assert f"deploy/{name}" in deploying


def test_many_daemons_nginx_spreads_over_every_socket_the_unit_opens(tmp_path: Path) -> None:
    """deploy/many-daemons: nginx parses, and its upstreams are the gateway and editor sockets
    of instances 1 to 3 of the template unit, which runs the plugin with a settings file."""
    folder = DEPLOY / "many-daemons"
    parsed = nginx_config(tmp_path, (folder / "nginx.conf").read_text(encoding="utf-8"))
    assert parsed["status"] == "ok", parsed["errors"]
    config = parsed["config"][1]["parsed"]
    upstreams = {block["args"][0]: [entry["args"][0] for entry in block["block"]
                                    if entry["directive"] == "server"]
                 for block in blocks(config, "upstream")}
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string((folder / "mobwrite@.service").read_text(encoding="utf-8"))
    command = shlex.split(unit["Service"]["ExecStart"])
    options = dict(argument.removeprefix("--").split("=", 1)
                   for argument in command if argument.startswith("--") and "=" in argument)
    for port, upstream in (("gateway", "mobwrite_gateways"), ("editor", "mobwrite_editors")):
        socket = options[port].removeprefix("unix:").split(":")[0]
        assert upstreams[upstream] == [
            "unix:" + socket.replace("%i", str(instance)) for instance in (1, 2, 3)]
    assert command[command.index("mobwrite") - 1] == "--pidfile="
    assert options["config"] == "/etc/mobwrite/mobwrite.conf"
    endpoints = [f"--{port}={options[port].replace('%i', '1')}"
                 for port in ("tcp", "gateway", "editor")]
    tap.Options().parseOptions(endpoints)
