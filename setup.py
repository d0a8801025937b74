"""Packages: mm7bind itself, plus the top-level generated/ and schemas/ folders mapped into it.

The generated subpackages are listed from the folder, so a schema version added with
`python -m tools.regen import` needs no edit here.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
generated = sorted(p.parent.name for p in (HERE / "generated").glob("*/__init__.py"))

setup(
    packages=find_packages(include=["mm7bind", "mm7bind.*"])
    + ["mm7bind.generated", "mm7bind.schemas"]
    + [f"mm7bind.generated.{name}" for name in generated],
    package_dir={"mm7bind.generated": "generated", "mm7bind.schemas": "schemas"},
)
