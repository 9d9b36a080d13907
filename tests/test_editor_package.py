"""``pip install .`` ships the editor's files, and the installed daemon serves them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from http_client import fetch, post_q

from benchmarks.daemon import ROOT, Daemon

# What a build of the package reads from a checkout.
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "mobwrite", "twisted", "static")
MARKER = "installed-copy.txt"


class InstalledDaemon(Daemon):
    """The daemon run from an installed copy of the package, away from the checkout."""

    def __init__(self, workdir: Path, site: Path) -> None:
        super().__init__(workdir)
        self.site = site

    def environment(self) -> dict[str, str]:
        return dict(super().environment(), PYTHONPATH=str(self.site))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the checkout, with a marker file added to static/."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "dropin.cache"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(origin, source / name)
    (source / "static" / MARKER).write_text("served from the installed package\n")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    str(source), "-w", str(work / "dist")], check=True, timeout=120)
    (built,) = (work / "dist").glob("mobwrite-*.whl")
    return built


def test_the_wheel_holds_the_static_files_and_the_plugin(wheel: Path) -> None:
    """Every file of static/ is in the wheel under mobwrite/static/, beside the twistd plugin."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = {f"mobwrite/static/{path.relative_to(ROOT / 'static').as_posix()}"
                for path in (ROOT / "static").rglob("*") if path.is_file()}
    assert expected and expected <= names
    assert f"mobwrite/static/{MARKER}" in names
    assert {"twisted/plugins/mobwrite_plugin.py", "mobwrite/daemon/editor.py"} <= names
    assert "twisted/plugins/__init__.py" not in names


def test_the_installed_daemon_serves_its_own_pages(wheel: Path, tmp_path: Path) -> None:
    """Installed away from the checkout, ``twistd mobwrite`` serves the packaged pages."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(site), str(wheel)], check=True, timeout=120)
    daemon = InstalledDaemon(tmp_path, site).start()
    try:
        editor = f"http://127.0.0.1:{daemon.ports['editor']}"
        assert fetch(f"{editor}/{MARKER}").body == b"served from the installed package\n"
        start = fetch(editor + "/")
        assert start.body == (ROOT / "static" / "index.html").read_bytes()
        assert fetch(editor + "/config.js").status == 200
        answer = post_q(daemon.ports["gateway"], b"u:wheel001\nF:0:wheel\nR:0:ok\n\n")
        assert answer.body == b"F:0:wheel\nD:0:=2\n\n"
    finally:
        daemon.stop()
