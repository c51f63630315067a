"""Shared fixtures: the corpora in ../shared/data and a seeded RNG.

Set ``HEARTSOUND_DATA`` to use another folder. Outside CI a missing corpus skips the
tests that need it; in CI (``CI=true``) it fails them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HEARTSOUND_DATA", REPO.parent / "shared" / "data"))


def _corpus(name: str) -> Path:
    path = DATA / name
    if not path.is_dir():
        msg = f"corpus {name!r} not found at {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not DATA.is_dir():
        msg = f"shared data folder not found at {DATA}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return DATA


@pytest.fixture(scope="session")
def circor_root() -> Path:
    return _corpus("circor2022")


@pytest.fixture(scope="session")
def physionet_root() -> Path:
    return _corpus("physionet2016")


@pytest.fixture(scope="session")
def pascal_root() -> Path:
    return _corpus("pascal2011")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory):
    """Files heartsound builds for itself (the example recording, training caches) go to
    a temporary folder during the tests, not to the user's cache."""
    old = os.environ.get("HEARTSOUND_CACHE")
    os.environ["HEARTSOUND_CACHE"] = str(tmp_path_factory.mktemp("heartsound_cache"))
    yield
    if old is None:
        os.environ.pop("HEARTSOUND_CACHE", None)
    else:
        os.environ["HEARTSOUND_CACHE"] = old


_CORPUS_FIXTURES = {"data_root", "circor_root", "physionet_root", "pascal_root"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that uses a corpus fixture is marked ``corpus`` (so ``-m "not corpus"``
    runs without ../shared/data); ``slow`` is set by hand on tests of more than ~3 s."""
    for item in items:
        if _CORPUS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.corpus)
