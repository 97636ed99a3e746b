"""The installed (non-editable) wheel is one `septum` package and checks the reference hospital."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, ZONES


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)]
    result = subprocess.run(build, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:  # no setuptools beside us: let pip fetch the build backend
        build.remove("--no-build-isolation")
        result = subprocess.run(build, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    [built] = out.glob("septum-*.whl")
    return built


def test_wheel_holds_one_import_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"septum", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    assert "septum/grammar/septum.lark" in names
    assert "septum/zones/catalog/clinical.septum" in names
    assert "septum/compiler/cli.py" in names and "septum/backends/__init__.py" in names
    assert "septum/backends/nftables/templates/ruleset.nft.j2" in names


def test_installed_wheel_checks_the_reference_hospital(wheel, tmp_path):
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(environment)
    python = environment / "bin" / "python"
    # Septum's dependencies come from the environment running the tests (no download); its .pth
    # files are not processed there, so the editable install stays invisible.
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    parent = [p for p in sys.path if p.endswith("site-packages")]
    Path(purelib, "septum-test-dependencies.pth").write_text("\n".join(parent) + "\n")
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    where = subprocess.run([str(python), "-c", "import septum; print(septum.__file__)"], capture_output=True,
                           text=True, cwd=tmp_path)
    assert where.stdout.strip().startswith(str(environment)), where.stdout + where.stderr
    check = subprocess.run([str(environment / "bin" / "septum"), "check", str(ZONES), "--as-of", "2026-11-23"],
                           capture_output=True, text=True,
                           cwd=tmp_path, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no problems" in check.stdout
    # the nftables backend is found through its entry point, its template is package data
    out = tmp_path / "configs"
    compiled = subprocess.run([str(environment / "bin" / "septum"), "compile", str(ZONES), "--device", "core-fw",
                               "--out", str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    assert (out / "core-fw.nft").read_text().startswith("#!/usr/sbin/nft -f")
    bare = subprocess.run([str(python), "-c", "import compiler"], capture_output=True, text=True, cwd=tmp_path)
    assert bare.returncode != 0  # nothing installed as a bare top-level module
