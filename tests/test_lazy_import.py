"""`import mm7bind` is cheap, and so is its pytest plugin, which pytest imports in every project on
a machine where mm7bind is installed: each public name, and each submodule, is imported on first
use. Each check runs in a fresh interpreter (this one has imported everything long ago)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import ROOT

# What made `import mm7bind.testing` take half a second: the XML bindings (xsdata, lxml), the
# messages, the client, the receiver, the store; and what a client may bring (zeep, httpx, requests).
HEAVY = ("mm7bind.client", "mm7bind.binding", "mm7bind.messages", "mm7bind.receiver", "mm7bind.server",
         "mm7bind.simulator", "mm7bind.store", "lxml", "xsdata.formats", "zeep", "httpx", "requests")


def run_python(code: str, tmp_path) -> dict:
    """Runs `code` with this tree's mm7bind → what it printed last, as JSON."""
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**inherited, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", ["mm7bind", "mm7bind.testing"])
def test_importing_it_imports_nothing_heavy(module, tmp_path):
    found = run_python(f"import json, sys, {module}\n"
                       f"print(json.dumps([{module}.__file__, [m for m in {HEAVY!r} if m in sys.modules]]))",
                       tmp_path)
    assert found == [str(ROOT / (module.replace(".", "/") + ".py" if "." in module else "mm7bind/__init__.py")), []]


def test_every_public_name_and_submodule_is_there_after_a_bare_import(tmp_path):
    found = run_python("""
import json, types
import mm7bind
everything = {}
exec("from mm7bind import *", everything)
# Submodules used as attributes after `import mm7bind` alone, as the README and the tests do (most
# were there because the package imported everything eagerly; now any submodule is).
used = ("auth", "versions", "errors", "status", "store", "simulator", "validation", "profiles", "messages",
        "xmlsafe", "receiver", "envelope", "content", "mime", "arrival", "outbox", "metrics", "codec", "cmcc")
print(json.dumps({
    "missing": [n for n in mm7bind.__all__ if getattr(mm7bind, n, None) is None],
    "not_in_dir": sorted(set(mm7bind.__all__) - set(dir(mm7bind))),
    "not_starred": sorted(set(mm7bind.__all__) - set(everything)),
    "same": all(everything[n] is getattr(mm7bind, n) for n in mm7bind.__all__),
    "renamed": [mm7bind.decode_envelope.__module__, mm7bind.encode_envelope.__name__],
    "submodules": [n for n in used if not isinstance(getattr(mm7bind, n, None), types.ModuleType)],
    "unknown": hasattr(mm7bind, "no_such_name"),
}))
""", tmp_path)
    assert found == {"missing": [], "not_in_dir": [], "not_starred": [], "same": True,
                     "renamed": ["mm7bind.envelope", "encode"], "submodules": [], "unknown": False}


def test_the_plugins_names_resolve_on_use(tmp_path):
    found = run_python("""
import json
import mm7bind, mm7bind.testing
from mm7bind.testing import RecordingHandler, RunningReceiver
print(json.dumps([issubclass(RecordingHandler, mm7bind.Handler), callable(RunningReceiver.wait_for),
                  hasattr(mm7bind.testing, "no_such_name")]))
""", tmp_path)
    assert found == [True, True, False]


def test_xsdatas_duplicate_warning_stays_ignored_when_the_bindings_are_first_used_in_a_warnings_context(tmp_path):
    # The filter was set when mm7bind.binding was imported; imported on first use, that may be
    # inside `warnings.catch_warnings()` (as in every pytest test), which drops it again.
    found = run_python("""
import json, warnings
import mm7bind
NS = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"
data = ('<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header>'
        f'<m:TransactionID xmlns:m="{NS}">t-1</m:TransactionID></e:Header><e:Body>'
        f'<SubmitReq xmlns="{NS}"><MM7Version>6.7.0</MM7Version><Recipients><To><Number>1</Number></To>'
        '</Recipients></SubmitReq></e:Body></e:Envelope>').encode()
with warnings.catch_warnings():
    import mm7bind.binding
with warnings.catch_warnings(record=True) as caught:
    env = mm7bind.decode_envelope(data, engine="xsdata")
print(json.dumps([env.body.mm7_version, sorted({d.code for d in env.deviations}), [str(w.message) for w in caught]]))
""", tmp_path)
    version, deviations, warned = found
    assert version == "6.7.0" and "schema" in deviations  # (reported as a deviation, as it should be)
    assert warned == []


def test_what_type_checkers_read_is_what_is_imported_on_use():
    # The names are written twice, as imports for type checkers and as a table for the lazy
    # imports: one added to, moved in or dropped from only one of them would type-check and fail
    # at run time, or the reverse.
    import ast

    import mm7bind

    tree = ast.parse((ROOT / "mm7bind" / "__init__.py").read_text(encoding="utf-8"))
    [block] = [node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"]
    for_checkers = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.level == 1, ast.unparse(node)
        for alias in node.names:
            if node.module is None:  # `from . import auth`: a submodule
                for_checkers[alias.name] = (alias.name, None)
            else:
                for_checkers[alias.asname or alias.name] = (node.module, alias.name)
    on_use = {name: (module, name) for name, module in mm7bind._SUBMODULE_OF.items()}
    on_use |= {name: tuple(where) for name, where in mm7bind._RENAMED.items()}
    submodules = {name for name, (_module, attribute) in for_checkers.items() if attribute is None}
    assert {n: w for n, w in for_checkers.items() if n not in submodules} == on_use
    assert set(for_checkers) == set(mm7bind.__all__)
