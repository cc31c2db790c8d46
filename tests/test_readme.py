"""The README's Python example runs as written, against the real data."""

import re
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.data
def test_readme_python_example_runs(mirror, tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "raw").symlink_to(mirror)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "▲" in lines
    assert any("Plymouth" in line for line in lines)
    assert any("All crime (excl. ASB)" in line and "higher" in line for line in lines)
    assert (tmp_path / "maps" / "towns" / "penzance.html").is_file()
