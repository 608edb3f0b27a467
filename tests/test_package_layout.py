"""The library core stays free of recipe and corpus code, and the recipes say what they miss.

``import asteroid_tdanet`` (and the CLI) must never import the training engine
(``asteroid_tdanet.recipes``), the corpus production code (``egs/utils/corpus``) or the
recipes' extra dependencies.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asteroid_tdanet.recipes import requirements

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "asteroid_tdanet"
RECIPE_ONLY = ("asteroid_tdanet.recipes", "corpus", *requirements.RECIPE_PACKAGES)


def _imported_names(path: Path):
    """Absolute module names imported anywhere in ``path`` (relative imports resolved)."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _is_recipe_only(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in RECIPE_ONLY)


@pytest.mark.parametrize("entry", ["asteroid_tdanet", "asteroid_tdanet.cli"])
def test_importing_the_library_imports_no_recipe_code(entry):
    code = (
        f"import sys, {entry}\n"
        f"roots = {RECIPE_ONLY!r}\n"
        "bad = sorted(m for m in sys.modules if any(m == r or m.startswith(r + '.') "
        "for r in roots))\n"
        "print(bad)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "egs" / "utils")]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_no_core_module_imports_recipe_code_even_lazily():
    core = [p for p in PACKAGE.rglob("*.py") if "recipes" not in p.relative_to(PACKAGE).parts]
    assert len(core) > 30  # the scan sees the package
    offenders = {
        str(p.relative_to(REPO)): sorted({n for n in _imported_names(p) if _is_recipe_only(n)})
        for p in core
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_training_engine_does_not_import_corpus_production():
    engine = list((PACKAGE / "recipes").rglob("*.py"))
    offenders = {
        str(p.relative_to(REPO)): sorted(
            n for n in _imported_names(p) if n == "corpus" or n.startswith("corpus.")
        )
        for p in engine
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert not (PACKAGE / "recipes" / "mini").exists()  # corpus code lives in egs/utils/corpus


def test_missing_recipe_package_is_one_line_with_the_install_command(monkeypatch, capsys):
    monkeypatch.setattr(
        requirements, "RECIPE_PACKAGES", {"pyloudnorm": "pyloudnorm", "no_such_mod_x": "nsm-x"}
    )
    assert requirements.main() == requirements.MISSING_REQUIREMENTS
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "nsm-x" in err and "pyloudnorm" not in err.split(":")[0]
    assert "pip install 'asteroid-tdanet[recipes]'" in err


def test_run_sh_without_pyloudnorm_stops_with_one_line(tmp_path):
    """The real recipe entry point with ``pyloudnorm`` hidden from its Python."""
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text("import sys\nsys.modules['pyloudnorm'] = None\n")
    wrapper = tmp_path / "python"
    wrapper.write_text(
        f'#!/bin/sh\nPYTHONPATH="{block}:$PYTHONPATH" exec "{sys.executable}" "$@"\n'
    )
    wrapper.chmod(0o755)
    out = subprocess.run(
        ["bash", "run.sh", "--dataset", "mini", "--python", str(wrapper), "--tag", "x"],
        cwd=REPO / "egs" / "libri2mix",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == requirements.MISSING_REQUIREMENTS
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert "pyloudnorm" in out.stderr and "asteroid-tdanet[recipes]" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_make_targets_create_the_venv_once(tmp_path):
    """``make demo`` / ``make test`` create the venv when it is missing and reuse it after."""
    venv = tmp_path / "venv"
    for target in ("demo", "test"):
        dry = subprocess.run(
            ["make", "-n", target, f"VENV={venv}"], cwd=REPO, capture_output=True, text=True
        )
        assert dry.returncode == 0, dry.stderr
        assert "-m venv" in dry.stdout and "pip install -r requirements-pinned.txt" in dry.stdout
    (venv / "bin").mkdir(parents=True)
    (venv / ".installed").touch()  # newer than the pins: installed
    dry = subprocess.run(
        ["make", "-n", "test", f"VENV={venv}"], cwd=REPO, capture_output=True, text=True
    )
    assert "pip install" not in dry.stdout and "-m pytest" in dry.stdout
    dry = subprocess.run(
        ["make", "-n", "demo", f"VENV={venv}"], cwd=REPO, capture_output=True, text=True
    )
    assert "./run.sh --dataset mini" in dry.stdout and "pip install" not in dry.stdout
