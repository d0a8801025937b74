"""What an installed mm7bind holds besides its modules: the schemas, and the PEP 561 marker that
tells a user's type checker to read mm7bind's own annotations — which must then be good enough
for it: every public call says what it returns, and takes what the documentation passes."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
import typing
from collections.abc import Iterable
from pathlib import Path

import mm7bind
import mm7bind.cmcc
from mm7bind.cmcc import status as cmcc_status
from mm7bind.messages import Address

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
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    package = Path(out, "mm7bind")
    assert (package / "py.typed").is_file()
    assert (package / "schemas" / "versions.toml").is_file()
    assert (package / "generated" / "rel6_mm7_1_4" / "bindings.py").is_file()


def public_functions():
    """The exported functions, and the public methods of the exported classes (inherited ones too)."""
    for module in (mm7bind, mm7bind.cmcc):
        for name in module.__all__:
            obj = getattr(module, name)
            if not getattr(obj, "__module__", "").startswith("mm7bind"):
                continue
            if inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj
            if not inspect.isclass(obj):
                continue
            seen: set[str] = set()
            for klass in (k for k in obj.__mro__ if k.__module__.startswith("mm7bind")):
                for attr, value in vars(klass).items():
                    if attr in seen or (attr.startswith("_") and attr != "__call__"):
                        continue
                    seen.add(attr)
                    value = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
                    if inspect.isfunction(value):
                        yield f"{module.__name__}.{name}.{attr}", value


def test_every_public_call_says_what_it_returns():
    # Without it a user's checker takes the result as Any (nothing checked after a client.submit);
    # with no annotation at all, --strict refuses the call.
    missing = [name for name, fn in public_functions()
               if inspect.signature(fn).return_annotation is inspect.Signature.empty]
    assert missing == []


def test_the_annotations_take_what_the_documentation_passes():
    to = typing.get_type_hints(mm7bind.Recipients.__init__)["to"]
    assert {str, Address, Iterable[Address | str]} <= set(typing.get_args(to))  # Recipients(to=["+86..."])
    # ReadTimeout is made by type(), which a checker does not take for a class (refused in `except`)
    # unless it is declared one.
    assert typing.get_type_hints(cmcc_status)["ReadTimeout"] == type[cmcc_status.APIError]
