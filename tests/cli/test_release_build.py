"""The release workflow's build step (docs/ci/release.yml) runs in CI: `python -m build` makes
an sdist and a wheel that `twine check` passes, with the MIT LICENSE inside and nothing but the
project's own files in the sdist.  Skipped when the dev group's `build` is not installed."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_build_makes_a_checked_sdist_and_wheel(tmp_path: Path) -> None:
    pytest.importorskip("build")
    pytest.importorskip("twine")
    # hatchling from the dev group: no isolated env, so no download and a few seconds
    flags = ["--no-isolation"] if _has("hatchling") else []
    built = subprocess.run(
        [sys.executable, "-m", "build", *flags, "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    sdist = next(tmp_path.glob("repobus-*.tar.gz"))
    wheel = next(tmp_path.glob("repobus-*-py3-none-any.whl"))
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "repobus/cli/__init__.py" in names
    with tarfile.open(sdist) as tar:
        tops = {n.split("/")[1] for n in tar.getnames() if n.count("/") >= 1}
    assert {"LICENSE", "src", "pyproject.toml", "README.md"} <= tops
    assert not tops & {".ci", ".hypothesis", ".venv"}, tops


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_license_matches_the_metadata() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "the repobus authors" in text
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text()
