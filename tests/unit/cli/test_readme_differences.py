"""The README says, briefly, where this project differs from the user documentation on purpose."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).parents[3] / "README.md"


def test_the_differences_section_exists_and_is_short() -> None:
    text = README.read_text(encoding="utf-8")
    assert "### Differences from the user documentation" in text
    section = text.split("### Differences from the user documentation", 1)[1].split("\n#", 1)[0]
    bullets = [line for line in section.splitlines() if line.startswith("- ")]
    assert 1 <= len(bullets) <= 12
    assert len(section.splitlines()) <= 30  # a user reads it at a glance
