"""Running the `fedrobust` command on bad input: it must end in one error line, exit 2, no traceback.

In-process (``cli_error``, fast: no new interpreter) for most cases; in a child process
(``cli_error_in_subprocess``) where the test must see everything the real command prints.
Commands may log progress to stderr before they fail (e.g. "preparing ..."); the error is one
line, the last one, and the only line that reads as an error.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from fedrobust.cli.main import main


def error_line(command: str, code: int, stderr: str) -> str:
    """The single error line of a failed command, after checking exit status 2 and no traceback."""
    assert code == 2, f"exit status {code}, expected 2; stderr:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    prefix = f"fedrobust {command}: error: "
    errors = [line for line in lines if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith(prefix), f"expected one line starting {prefix!r}:\n{stderr}"
    assert lines[-1] == errors[0], f"the error is not the last line:\n{stderr}"
    return errors[0]


def assert_names(line: str, *fragments: str) -> None:
    """The error line names every fragment (the file, the field ...)."""
    missing = [f for f in fragments if f not in line]
    assert not missing, f"{missing} not in: {line}"


def cli_error(capsys: pytest.CaptureFixture, *argv: str) -> str:
    """Run ``fedrobust ARGV`` in this process; its single error line."""
    capsys.readouterr()
    code = main(list(argv))
    return error_line(argv[0], code, capsys.readouterr().err)


def cli_error_in_subprocess(*argv: str, timeout: float = 120) -> str:
    """Run ``fedrobust ARGV`` as a child process (what a user sees); its single error line."""
    result = subprocess.run([sys.executable, "-m", "fedrobust.cli.main", *argv], capture_output=True, text=True,
                            timeout=timeout)
    return error_line(argv[0], result.returncode, result.stderr)
