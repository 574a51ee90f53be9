"""Every message key used by the code exists in th and en, with the same placeholders."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from bot.core.catalog import Catalog
from bot.core.forms import Kind
from bot.core.forms.report import CATEGORIES, REFERRALS, REPORT
from bot.runtime.staff import CLOSE_AS, FORWARD_TO

ROOT = Path(__file__).resolve().parent.parent
KEY = re.compile(r"^[a-z_]+(\.[a-z0-9_]+)+$")
CATALOG = Catalog.load()
STATUSES = ("received", "acknowledged", "in_review", "forwarded", "closed")
ROLES = ("staff", "organizer", "admin")


def keys_in_code() -> set[str]:
    tables = {k.split(".")[0] for k in CATALOG.messages["th"]}
    found: set[str] = set()
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]:
        if "thai" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and KEY.match(node.value)
                and node.value.split(".")[0] in tables
                and not node.value.endswith((".py", ".csv", ".toml"))
            ):
                found.add(node.value)
    return found


def dynamic_keys() -> set[str]:
    keys = {f"category.{c}" for c in CATEGORIES}
    keys |= {f"referral.{r}" for r in REFERRALS.values()}
    keys |= {f"status.{s}" for s in STATUSES}
    keys |= {f"role.{r}" for r in ROLES}
    keys |= {f"month.{m}" for m in range(1, 13)}
    keys |= {f"staff.button.forwarded.{d}" for d in FORWARD_TO} | {
        f"staff.button.closed.{d}" for d in CLOSE_AS
    }
    keys |= {f"status_detail.{d}" for d in (*FORWARD_TO, *CLOSE_AS)}
    keys |= {f"evidence.{k}" for k in ("image", "video", "audio", "file")}
    for f in REPORT.fields:
        keys |= {f.ask, f.label, *(o.label for o in f.options)}
        if f.kind not in (Kind.TEXT, Kind.EVIDENCE):
            keys.add(f"report.{f.id}.invalid")
    return keys


def test_both_locales_have_the_same_keys() -> None:
    th, en = set(CATALOG.messages["th"]), set(CATALOG.messages["en"])
    assert th - en == set(), f"missing in en.toml: {sorted(th - en)}"
    assert en - th == set(), f"missing in th.toml: {sorted(en - th)}"


#: keys whose languages pick different parameters on purpose (Thai writes Buddhist-era years)
DIFFERENT_PARAMS = {"common.date": ({"day", "month", "year_be"}, {"day", "month", "year"})}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(CATALOG.messages["th"]))
def test_placeholders_match(key: str) -> None:
    th, en = placeholders(CATALOG.messages["th"][key]), placeholders(CATALOG.messages["en"][key])
    if key in DIFFERENT_PARAMS:
        assert (th, en) == DIFFERENT_PARAMS[key]
    else:
        assert th == en, key


def test_every_key_the_code_uses_exists() -> None:
    used = keys_in_code() | dynamic_keys()
    assert len(used) > 50  # the scan really found the code's keys
    missing = {k for k in used if k not in CATALOG.messages["th"]}
    assert not missing, f"add to locales: {sorted(missing)}"


def test_a_missing_key_is_shown_as_its_id_not_a_crash() -> None:
    assert CATALOG.text("no.such.key", "th") == "no.such.key"


def test_thai_text_is_thai() -> None:
    thai = re.compile(r"[\u0E00-\u0E7F]")
    latin = re.compile(r"[A-Za-z]{3,}")
    untranslated = [
        k
        for k, v in CATALOG.messages["th"].items()
        if latin.search(re.sub(r"\{[^}]*\}|TB-[A-Z-]+|PACC Connect|LINE|Telegram", "", v))
        and not thai.search(v)
    ]
    assert untranslated == [], untranslated
