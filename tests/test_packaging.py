"""What an installed mm7bind holds besides its modules: the schemas, and the PEP 561 marker that
tells a user's type checker to read mm7bind's own annotations."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT


def test_the_built_package_has_the_typing_marker_and_the_schemas(tmp_path):
    # Built from a scratch copy, with setuptools' own file selection (what a wheel gets), offline.
    src = tmp_path / "src"
    for name in ("mm7bind", "generated", "schemas"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    out = tmp_path / "build"
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(out)], cwd=src,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    package = Path(out, "mm7bind")
    assert (package / "py.typed").is_file()
    assert (package / "schemas" / "versions.toml").is_file()
    assert (package / "generated" / "rel6_mm7_1_4" / "bindings.py").is_file()
