"""Shared fixtures: real faces (the bundled public-domain example and ../shared), temp dirs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEBLUR_SHARED", REPO.parent / "shared"))
EXAMPLE = REPO / "faceblur_cli" / "assets" / "examples" / "astronaut_blurry.jpg"


TEST_FACES = REPO / "tests" / "data" / "faces"  # public-domain crops: tests/data/README.md


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"needs the shared data folder at {SHARED} (set FACEBLUR_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def face_dir(tmp_path_factory) -> Path:
    """A small folder of real sharp faces: 6 CelebA + 2 Helen files from ../shared, copied; without
    ../shared, the public-domain faces of tests/data (so the unit tests still run)."""
    import shutil

    d = tmp_path_factory.mktemp("faces")
    if not SHARED.is_dir():
        for src in sorted(TEST_FACES.glob("*.png")):
            shutil.copy(src, d / src.name)
        return d
    shared = SHARED
    for src in sorted((shared / "data" / "celeba" / "train").glob("*.jpg"))[:6]:
        shutil.copy(src, d / src.name)
    for src in sorted((shared / "data" / "helen" / "train").glob("*.jpg"))[:2]:
        shutil.copy(src, d / src.name)
    return d


@pytest.fixture(scope="session")
def example_photo() -> Path:
    return EXAMPLE


@pytest.fixture(scope="session")
def deblurrer():
    from faceblur_cli import Deblurrer

    return Deblurrer("default", device="cpu")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
