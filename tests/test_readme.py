"""The README: its Python example runs as written, against the real data; its pictures exist."""

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


def test_readme_pictures_exist_with_words_for_each():
    """Every picture the README shows is a PNG in the repository, described in words; the
    screenshots cover the four views at desktop and phone size (docs/screenshots.py)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    pictures = re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", readme)
    for words, path in pictures:
        assert len(words) > 20, path
        assert (REPO / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    shown = {path for _, path in pictures}
    for view in ("peninsula_map", "hotspot_map", "town_profile", "overview_grid"):
        assert {f"docs/{view}_desktop.png", f"docs/{view}_phone.png"} <= shown, view
