"""A real, small file system for the full-disk tests: a tmpfs of a given size mounted on a
directory, or, where tmpfs mounts are refused, an ext4 image on a loop device. Both need root
(CI and the development machines run the suites as root); without either the test is skipped
and says why."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

MIB = 1024 * 1024


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def _mount_tmpfs(directory: Path, size_mib: int) -> str | None:
    """None when mounted, else why not."""
    result = _run("mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(directory))
    return None if result.returncode == 0 else f"tmpfs: {result.stderr.strip()}"


def _mount_loop_image(directory: Path, image: Path, size_mib: int) -> str | None:
    """None when mounted, else why not."""
    if shutil.which("mkfs.ext4") is None:
        return "loop image: mkfs.ext4 not installed"
    with open(image, "wb") as file:
        file.truncate(size_mib * MIB)
    made = _run("mkfs.ext4", "-q", "-F", str(image))
    if made.returncode != 0:
        return f"mkfs.ext4: {made.stderr.strip()}"
    mounted = _run("mount", "-o", "loop", str(image), str(directory))
    return None if mounted.returncode == 0 else f"loop mount: {mounted.stderr.strip()}"


@contextlib.contextmanager
def small_disk(root: Path, size_mib: int) -> Iterator[Path]:
    """A file system of `size_mib` MiB mounted at `root/disk` for the block; unmounted after."""
    directory = root / "disk"
    directory.mkdir(parents=True)
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command: a small disk for the full-disk test cannot be made")
    refused = _mount_tmpfs(directory, size_mib)
    if refused is not None:
        refused_loop = _mount_loop_image(directory, root / "disk.img", size_mib)
        if refused_loop is not None:
            pytest.skip(
                f"no small disk can be mounted here (needs root): {refused}; {refused_loop}"
            )
    try:
        yield directory
    finally:
        unmounted = _run("umount", str(directory))
        assert unmounted.returncode == 0, f"umount {directory}: {unmounted.stderr}"
