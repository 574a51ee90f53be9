"""README's settings table documents every setting (and nothing that does not exist)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def documented() -> set[str]:
    text = README.read_text("utf-8")
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `TIPBOT_([A-Z0-9_]+)` \|", section, flags=re.MULTILINE))


def test_every_setting_is_in_the_readme_table() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    missing = fields - documented()
    assert not missing, f"document these settings in README: {sorted(missing)}"


def test_the_table_names_no_setting_that_does_not_exist() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    extra = documented() - fields
    assert not extra, f"README documents settings that do not exist: {sorted(extra)}"
