"""devstack's paths: the repository root it runs services from and the sample class `make run`
submits (devstack/ moved out of services/ once, and its root went one folder too high)."""

from __future__ import annotations

from devstack.__main__ import SAMPLE_CLASS
from devstack.stack import REPO_ROOT
from tests.support import REPO_ROOT as TESTS_REPO_ROOT


def test_the_repository_root_is_the_checkout() -> None:
    assert REPO_ROOT == TESTS_REPO_ROOT
    assert (REPO_ROOT / "pyproject.toml").is_file()


def test_make_run_submits_the_sample_class() -> None:
    assert SAMPLE_CLASS.is_dir()
    assert any(SAMPLE_CLASS.iterdir())
