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
SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "mobwrite", "twisted", "static")
MARKER = "installed-copy.txt"
VENDORED = "static/vendor/diff-match-patch.mjs"


class InstalledDaemon(Daemon):
    """The daemon run from an installed copy of the package, away from the checkout."""

    def __init__(self, workdir: Path, site: Path) -> None:
        super().__init__(workdir)
        self.site = site

    def environment(self) -> dict[str, str]:
        return dict(super().environment(), PYTHONPATH=str(self.site))


def copy_checkout(work: Path) -> Path:
    """The files a build reads, copied from the checkout to *work*/source."""
    source = work / "source"
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "dropin.cache"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(origin, source / name)
    return source


def build_wheel(source: Path, dist: Path) -> subprocess.CompletedProcess[str]:
    """``pip wheel`` of *source* into *dist*, its output kept."""
    return subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                           str(source), "-w", str(dist)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the checkout, with a marker file added to static/."""
    work = tmp_path_factory.mktemp("wheel")
    source = copy_checkout(work)
    (source / "static" / MARKER).write_text("served from the installed package\n")
    built = build_wheel(source, work / "dist")
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (work / "dist").glob("mobwrite-*.whl")
    return wheel


def test_a_build_without_the_vendored_diff_library_fails_and_says_why(tmp_path: Path) -> None:
    """Without static/vendor/ (no ``npm ci``), the build stops, naming the file and the fix."""
    source = copy_checkout(tmp_path)
    shutil.rmtree(source / "static" / "vendor")
    built = build_wheel(source, tmp_path / "dist")
    assert built.returncode != 0
    output = built.stdout + built.stderr
    assert f"{VENDORED} is missing" in output
    assert "`npm ci`" in output and "`make dist`" in output and "docs/packaging.md" in output
    assert not list((tmp_path / "dist").glob("*.whl"))


def test_the_wheel_holds_the_static_files_and_the_plugin(wheel: Path) -> None:
    """Every file of static/ is in the wheel under mobwrite/static/, beside the twistd plugin."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = {f"mobwrite/static/{path.relative_to(ROOT / 'static').as_posix()}"
                for path in (ROOT / "static").rglob("*") if path.is_file()}
    assert expected and expected <= names
    assert f"mobwrite/static/{MARKER}" in names
    assert {f"mobwrite/{VENDORED}", "mobwrite/static/loader.js"} <= names
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
        assert fetch(f"{editor}/vendor/diff-match-patch.mjs").status == 200
        answer = post_q(daemon.ports["gateway"], b"u:wheel001\nF:0:wheel\nR:0:ok\n\n")
        assert answer.body == b"F:0:wheel\nD:0:=2\n\n"
    finally:
        daemon.stop()
