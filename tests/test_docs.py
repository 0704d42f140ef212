"""The documentation keeps up with the code: the README's size and quick start, every CLI option in
docs/cli.md, the generated pages current, and the MkDocs site building with no warning."""

import importlib.util
import subprocess
import sys

import pytest
import typer
from conftest import REPO

from faceblur_cli.cli import app


def test_readme_is_short_and_ci_runs_its_test_command():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    ci = (REPO / ".ci" / "run").read_text()
    test_cmd = next(ln for ln in readme.splitlines() if "python -m pytest" in ln and ln.startswith("python3 -m venv"))
    assert test_cmd.strip() in ci


def _options():
    root = typer.main.get_command(app)
    ctx = root.make_context("faceblur", [], resilient_parsing=True)

    def walk(cmd, path):
        for p in cmd.params:
            for opt in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]:
                if opt.startswith("-"):
                    yield path, opt
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(ctx):
                yield from walk(cmd.get_command(ctx, name), f"{path} {name}")

    return list(walk(root, "faceblur"))


def test_every_command_and_option_is_in_docs_cli():
    doc = (REPO / "docs" / "cli.md").read_text()
    missing = [(path, opt) for path, opt in _options() if f"`{opt}`" not in doc and path != "faceblur"]
    assert not missing, f"run python scripts/gen_cli_docs.py; missing: {missing[:5]}"
    root = typer.main.get_command(app)
    ctx = root.make_context("faceblur", [], resilient_parsing=True)
    for name in root.list_commands(ctx):
        assert f"faceblur {name}" in doc, name


def test_generated_cli_reference_is_current(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("gen_cli_docs", REPO / "scripts" / "gen_cli_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.render() in (REPO / "docs" / "cli.md").read_text(), "run python scripts/gen_cli_docs.py"


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs not installed (extra: test)")
def test_mkdocs_site_builds_strict_offline(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "index.html").exists()
