"""The LINE rich menu: four tappable panels drawn as icons, and their installation as every user's default.

Owns the panel payloads, the PNG and the rich menu API calls; knows no wording (the labels come from the
catalog through `install_rich_menu`), because Pillow's bundled font has no Thai glyphs anyway.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

from linebot.v3.messaging import PostbackAction, RichMenuArea, RichMenuBounds, RichMenuRequest, RichMenuSize
from PIL import Image, ImageDraw

from handlers.line import MAX_CHAT_BAR_TEXT, MAX_LABEL_GRAPHEMES, LineChannel
from handlers.text import truncate_graphemes

# the channel's logger, so that operators filter one name for everything LINE
log = logging.getLogger("handlers.line")

MENU_WIDTH = 2500
MENU_HEIGHT = 843
#: postback data of each panel, left to right: the core's global commands (report, status = "my
#: tips", notices, help), so a tap works at every step like the same command typed or tapped in chat
MENU_PAYLOADS: tuple[str, ...] = ("menu:report", "menu:status", "menu:notices", "menu:help")

_BACKGROUNDS = ((200, 45, 45), (32, 96, 170), (226, 140, 20), (40, 140, 90))
_WHITE = (255, 255, 255)


def _report_icon(draw: ImageDraw.ImageDraw, cx: int, cy: int, r: int, colour: tuple[int, int, int]) -> None:
    # a warning triangle with an exclamation mark
    draw.polygon([(cx, cy - r), (cx + r, cy + int(r * 0.8)), (cx - r, cy + int(r * 0.8))], fill=_WHITE)
    bar = r // 9
    draw.rectangle([cx - bar, cy - r // 2, cx + bar, cy + r // 4], fill=colour)
    draw.ellipse([cx - bar, cy + r // 3, cx + bar, cy + r // 3 + 2 * bar], fill=colour)


def _tips_icon(draw: ImageDraw.ImageDraw, cx: int, cy: int, r: int, colour: tuple[int, int, int]) -> None:
    # a sheet of paper with lines
    w, h = int(r * 0.75), r
    draw.rounded_rectangle([cx - w, cy - h, cx + w, cy + h], radius=r // 8, fill=_WHITE)
    for i in range(4):
        y = cy - h // 2 + i * h // 3
        draw.rectangle([cx - w // 2, y - r // 20, cx + w // 2, y + r // 20], fill=colour)


def _notices_icon(draw: ImageDraw.ImageDraw, cx: int, cy: int, r: int, colour: tuple[int, int, int]) -> None:
    # a bell
    draw.pieslice([cx - r * 3 // 4, cy - r, cx + r * 3 // 4, cy + r // 2], 180, 360, fill=_WHITE)
    draw.rectangle([cx - r * 3 // 4, cy - r // 4, cx + r * 3 // 4, cy + r // 2], fill=_WHITE)
    draw.rectangle([cx - r, cy + r // 2, cx + r, cy + r * 2 // 3], fill=_WHITE)
    draw.ellipse([cx - r // 6, cy + r * 2 // 3, cx + r // 6, cy + r], fill=_WHITE)


def _help_icon(draw: ImageDraw.ImageDraw, cx: int, cy: int, r: int, colour: tuple[int, int, int]) -> None:
    # an "i" in a circle: information
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_WHITE)
    bar = r // 7
    draw.ellipse([cx - bar, cy - r // 2 - bar, cx + bar, cy - r // 2 + bar], fill=colour)
    draw.rectangle([cx - bar, cy - r // 5, cx + bar, cy + r // 2], fill=colour)


_ICONS = (_report_icon, _tips_icon, _notices_icon, _help_icon)


def draw_menu_image() -> bytes:
    """The 2500x843 PNG LINE shows as the menu: one coloured panel and icon per payload."""
    image = Image.new("RGB", (MENU_WIDTH, MENU_HEIGHT), _WHITE)
    draw = ImageDraw.Draw(image)
    width = MENU_WIDTH // len(MENU_PAYLOADS)
    for index, (colour, icon) in enumerate(zip(_BACKGROUNDS, _ICONS, strict=True)):
        left = index * width
        right = MENU_WIDTH if index == len(MENU_PAYLOADS) - 1 else left + width
        draw.rectangle([left, 0, right - 1, MENU_HEIGHT - 1], fill=colour)
        # a thin white gap between panels, so they read as separate buttons
        if index:
            draw.rectangle([left - 3, 0, left + 3, MENU_HEIGHT - 1], fill=_WHITE)
        icon(draw, (left + right) // 2, MENU_HEIGHT // 2, 240, colour)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


async def install_rich_menu(
    channel: LineChannel, labels: Sequence[str], *, chat_bar_text: str = "☰", name: str = "tipbot-main"
) -> str:
    """Create the four-button menu, upload its image, make it every user's default; return its id.

    ``labels`` (report, my tips, notices, help) come from the catalog; LINE shows them as the
    text a user "says" on tap and to screen readers, while the image itself carries only icons.
    """
    if len(labels) != len(MENU_PAYLOADS):
        raise ValueError(f"need {len(MENU_PAYLOADS)} labels, got {len(labels)}")
    width = MENU_WIDTH // len(MENU_PAYLOADS)
    areas = []
    for index, (payload, label) in enumerate(zip(MENU_PAYLOADS, labels, strict=True)):
        short = truncate_graphemes(label.strip(), MAX_LABEL_GRAPHEMES) or payload
        area_width = MENU_WIDTH - width * index if index == len(MENU_PAYLOADS) - 1 else width
        areas.append(
            RichMenuArea(
                bounds=RichMenuBounds(x=width * index, y=0, width=area_width, height=MENU_HEIGHT),
                action=PostbackAction(label=short, data=payload, display_text=label.strip() or short),
            )
        )
    request = RichMenuRequest(
        size=RichMenuSize(width=MENU_WIDTH, height=MENU_HEIGHT),
        selected=False,
        name=name,
        chat_bar_text=truncate_graphemes(chat_bar_text, MAX_CHAT_BAR_TEXT),
        areas=areas,
    )
    created = await channel.api.create_rich_menu(request, _request_timeout=channel.request_timeout)
    menu_id: str = created.rich_menu_id
    # The SDK's upload method sets no Content-Type, and would then JSON-encode the bytes.
    await channel.blob_api.set_rich_menu_image(
        menu_id,
        draw_menu_image(),
        _headers={"Content-Type": "image/png"},
        _request_timeout=channel.request_timeout,
    )
    await channel.api.set_default_rich_menu(menu_id, _request_timeout=channel.request_timeout)
    log.info("line rich menu %s installed as default", menu_id)
    return menu_id
