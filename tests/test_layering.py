"""The layering contract covers every core module (DESIGN rule 1)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSITION = {"bot.app", "bot.cli", "bot.cli_broadcast"}


def test_every_core_module_is_in_the_platform_free_contract() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    contract = next(
        c for c in config["tool"]["importlinter"]["contracts"] if c["name"].startswith("The core knows")
    )
    covered = set(contract["source_modules"])
    modules = set()
    for path in (ROOT / "bot").iterdir():
        if path.name.startswith("_") or path.name == "data":
            continue
        if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").exists()):
            modules.add(f"bot.{path.stem}")
    missing = modules - covered - COMPOSITION
    assert not missing, f"add to the import-linter contract: {sorted(missing)}"
    for forbidden in ("linebot", "telegram", "aiohttp", "sqlmodel", "sqlalchemy", "storage", "handlers"):
        assert forbidden in contract["forbidden_modules"]
