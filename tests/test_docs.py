"""What the documentation shows works as shown: the README's configuration reference and the
example configurations are valid, and the reference names every key there is."""

from __future__ import annotations

import dataclasses
import re
import tomllib

from mm7bind.config import SECTIONS, load

from .conftest import ROOT


def readme_toml() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```toml\n(.*?)```", text, re.S)
    return block


def test_the_readme_configuration_is_valid_and_names_every_key(tmp_path):
    block = readme_toml()
    data = tomllib.loads(block)  # a user can copy it as it is
    assert set(data) == set(SECTIONS)
    for name, section in SECTIONS.items():
        assert set(data[name]) == {f.name for f in dataclasses.fields(section)}, name
    path = tmp_path / "readme.toml"
    path.write_text(block, encoding="utf-8")
    _cfg, problems = load(str(path), env={})
    assert [p for p in problems if p.level == "error"] == []


def test_the_example_configurations_are_valid():
    for path in sorted((ROOT / "examples").glob("*.toml")):
        _cfg, problems = load(str(path), env={})
        assert problems == [], path.name



def test_every_name_the_readme_uses_exists():
    """Every `mm7.X` and `mm7bind.x.Y` the README writes resolves: a rename that leaves the README
    behind fails here."""
    import importlib

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    not_names = {"mm7.db", "mm7.vasp", "mm7bind.db", "mm7bind.service"}  # file names in the text
    missing = []
    for dotted in sorted(set(re.findall(r"\bmm7(?:bind)?\.[A-Za-z_][A-Za-z0-9_.]*[A-Za-z0-9_]", text)) - not_names):
        parts = dotted.split(".")
        obj = importlib.import_module("mm7bind")
        for i, part in enumerate(parts[1:], 1):
            if not hasattr(obj, part):
                try:
                    obj = importlib.import_module("mm7bind." + ".".join(parts[1 : i + 1]))
                    continue
                except ImportError:
                    missing.append(dotted)
                    break
            obj = getattr(obj, part)
    assert missing == []
