"""Run the `angioseg` command in-process and check its one-line errors (shared by CLI tests)."""

from __future__ import annotations

import pytest

from AngioSegLib.cli import main


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``angioseg ARGS``."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, match: str) -> None:
    """Exit code 2, one 'angioseg: error: …' line containing ``match``, no traceback."""
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("angioseg: error: ") and match in lines[0]
    assert "Traceback" not in err
