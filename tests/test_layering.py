"""The layers hold (DESIGN rule 1): every module of bot/ sits in a place the import-linter contracts
cover, and the contracts say what the layout promises."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: packages of bot/: the pure core, the loops and desks, the command line, the Thai parsers, data
PACKAGES = {"core", "runtime", "cli", "thai", "data"}
#: modules at the top of bot/: the composition root and what every layer may use
TOP = {"app", "settings", "logs", "metrics"}


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}


def contract(start: str) -> dict[str, Any]:
    return next(c for name, c in contracts().items() if name.startswith(start))


def test_every_module_of_bot_has_its_place() -> None:
    stray = []
    for path in (ROOT / "bot").iterdir():
        if path.name.startswith(("_", ".")):
            continue
        if path.is_dir():
            if path.name not in PACKAGES:
                stray.append(path.name)
        elif path.suffix == ".py" and path.stem not in TOP:
            stray.append(path.name)
    assert not stray, f"put these into bot/core (pure), bot/runtime (I/O) or bot/cli: {sorted(stray)}"


def test_the_layers_run_from_the_command_line_down_to_the_pure_core() -> None:
    layers = contract("Layers")
    assert layers["type"] == "layers"
    assert layers["layers"] == ["bot.cli", "bot.app", "bot.runtime", "bot.core"]


def test_no_platform_or_sql_below_the_composition_root() -> None:
    platform_free = contract("The core knows no platform")
    covered = set(platform_free["source_modules"])
    assert {"bot.core", "bot.runtime", "bot.thai"} <= covered
    assert {f"bot.{name}" for name in TOP - {"app"}} <= covered
    for forbidden in ("linebot", "telegram", "aiohttp", "sqlmodel", "sqlalchemy", "storage", "handlers"):
        assert forbidden in platform_free["forbidden_modules"]


def test_the_pure_core_imports_nothing_async() -> None:
    pure = contract("The pure core")
    assert set(pure["source_modules"]) == {"bot.core", "bot.thai"}
    assert {"asyncio", "bot.runtime", "bot.app", "bot.cli"} <= set(pure["forbidden_modules"])
