"""The desktop images run python3.10: nothing in the package may need a newer Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bureau_agent


def test_package_runs_on_python_3_10() -> None:
    package = Path(bureau_agent.__file__).parent
    result = subprocess.run(
        [str(Path(sys.executable).parent / "vermin"), "--no-tips", "--violations", "-t=3.10-", "--eval-annotations", str(package)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
