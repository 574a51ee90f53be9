"""install_rich_menu against the fake platform, and the menu picture itself."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from handlers.line import LineChannel
from handlers.line_richmenu import MENU_PAYLOADS, draw_menu_image, install_rich_menu
from tests.fakes.line import FakeLine, count_graphemes

LABELS = ["แจ้งเบาะแสการทุจริตในหน่วยงานรัฐ", "เรื่องของฉัน", "ข่าวสาร", "ช่วยเหลือ"]


async def test_install_creates_uploads_and_sets_default(line: FakeLine, channel: LineChannel) -> None:
    menu_id = await install_rich_menu(channel, LABELS)

    assert line.default_rich_menu == menu_id
    menu = line.rich_menus[menu_id]
    assert menu["size"] == {"width": 2500, "height": 843}
    actions = [area["action"] for area in menu["areas"]]
    assert [a["data"] for a in actions] == list(MENU_PAYLOADS)
    assert [a["displayText"] for a in actions] == LABELS
    assert all(count_graphemes(a["label"]) <= 20 for a in actions)
    bounds = [area["bounds"] for area in menu["areas"]]
    assert sum(b["width"] for b in bounds) == 2500
    assert len(menu["chatBarText"]) <= 14

    content_type, png = line.rich_menu_images[menu_id]
    assert content_type == "image/png"
    assert Image.open(io.BytesIO(png)).size == (2500, 843)
    # the picture went to the data host's path
    [upload] = line.calls_to("richmenu_content")
    assert upload.path == f"/v2/bot/richmenu/{menu_id}/content"


async def test_install_needs_four_labels(channel: LineChannel) -> None:
    with pytest.raises(ValueError, match="4 labels"):
        await install_rich_menu(channel, LABELS[:3])


def test_menu_image_is_a_small_png_with_four_panels() -> None:
    png = draw_menu_image()
    assert len(png) < 1024 * 1024  # LINE's limit for rich menu images
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (2500, 843)
    corners = {image.getpixel((x * 625 + 20, 20)) for x in range(4)}
    assert len(corners) == 4  # one colour per panel
