"""The one build step setup.cfg cannot declare: refuse to pack an editor without its diff library.

``static/vendor/diff-match-patch.mjs`` is not committed; ``npm ci`` copies
it from node_modules.  Without it every page fails to load, so building a
wheel or an sdist without it stops here and says how to make it.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

VENDORED = Path("static", "vendor", "diff-match-patch.mjs")


def require_vendored() -> None:
    """Stop the build unless the browser's diff library is in static/vendor/."""
    if not (Path(__file__).resolve().parent / VENDORED).is_file():
        raise SystemExit(
            f"error: {VENDORED.as_posix()} is missing, and the editor pages cannot load "
            "without it. Run `npm ci` in the checkout first (it copies the module there), "
            "or `make dist`, which does and builds the wheel; see docs/packaging.md.")


class BuildPyWithVendor(build_py):
    """build_py that first checks the vendored module is there."""

    def run(self) -> None:
        require_vendored()
        super().run()


class SdistWithVendor(sdist):
    """sdist that first checks the vendored module is there."""

    def run(self) -> None:
        require_vendored()
        super().run()


setup(cmdclass={"build_py": BuildPyWithVendor, "sdist": SdistWithVendor})
