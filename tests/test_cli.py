import pytest
from typer.testing import CliRunner

from faceblur_cli.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "cmd",
    [
        [],
        ["deblur"],
        ["synthesize"],
        ["train"],
        ["benchmark"],
        ["export-onnx"],
        ["weights"],
        ["weights", "list"],
        ["weights", "download"],
        ["weights", "verify"],
    ],
)
def test_help_exits_zero(cmd):
    result = runner.invoke(app, cmd + ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_weights_list_and_verify():
    result = runner.invoke(app, ["weights", "list"])
    assert result.exit_code == 0 and "faceblur-lite" in result.output
    result = runner.invoke(app, ["weights", "verify"])
    assert result.exit_code == 0, result.output


def test_ci_runs_the_readme_test_command_verbatim():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    ci_line = next(ln for ln in (root / ".ci" / "run").read_text().splitlines() if ln.startswith("python3 -m venv"))
    assert "python -m pytest" in ci_line and ci_line in readme
