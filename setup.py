"""The setuptools build hook that puts the C runtime into the wheel (the project's metadata is in
pyproject.toml).

The repository keeps the runtime in ``c_runtime/``, beside the package; a wheel must carry it, so
``build_py`` copies that tree into the built package as ``ooc_sdk/c_runtime/``, where
``ooc_sdk.package_data.runtime_dir()`` finds it through importlib.resources. Monocypher, which the
repository does not hold (ooc_sdk/codegen/thirdparty.py), is fetched and checked first, so the
wheel builds and runs offline. An editable install copies nothing: it reads ``c_runtime/`` in the
checkout.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
RUNTIME = ROOT / "c_runtime"
PACKAGED = Path("ooc_sdk") / "c_runtime"  # ooc_sdk/package_data.py: PACKAGED
# build output and editor litter that a working tree may hold inside c_runtime/
IGNORE = shutil.ignore_patterns("build", "build-*", "*.o", "*.a", "*.elf", "__pycache__", ".*")


def _fetch_third_party() -> None:
    sys.path.insert(0, str(ROOT))  # the module imports only the standard library
    try:
        from ooc_sdk.codegen.thirdparty import ensure_monocypher

        ensure_monocypher(RUNTIME)
    finally:
        sys.path.remove(str(ROOT))


class BuildPyWithRuntime(build_py):
    """build_py, then the runtime's tree copied into the built package (not when editable)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        if not (RUNTIME / "sources.txt").is_file():
            raise SystemExit(f"ooc: {RUNTIME} is missing; build the wheel from a checkout or sdist")
        _fetch_third_party()
        dest = Path(self.build_lib) / PACKAGED
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(RUNTIME, dest, ignore=IGNORE)


setup(cmdclass={"build_py": BuildPyWithRuntime})
