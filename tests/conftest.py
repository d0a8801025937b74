"""Shared test helpers: the reference sample folder (used in place when present)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(os.environ.get("MM7BIND_SAMPLES", ROOT.parent / "shared" / "reference" / "samples"))


def sample_files() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(p for p in SAMPLES.iterdir() if p.is_file() and p.name != "INDEX.md")


@pytest.fixture
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip("reference samples are not present")
    return SAMPLES
