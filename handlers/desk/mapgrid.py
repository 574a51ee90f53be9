"""An offline map of Thailand for the case desk: a tile-grid cartogram, one square per province
(row 0 is the north), each coloured by its PACC region's office.

The layout was written for tipbot by hand from the provinces' relative positions (north to
south, west to east), in the manner of the common tile-grid maps of Thailand; it is part of this
repository under its licence. It is no boundary map: no tile server, no CDN, no outline data.
"""

from __future__ import annotations

from typing import NamedTuple


class Tile(NamedTuple):
    province: str
    row: int
    col: int


_GRID = """
0|3 เชียงราย
1|1 แม่ฮ่องสอน|2 เชียงใหม่|3 พะเยา|4 น่าน
2|2 ลำพูน|3 ลำปาง|4 แพร่|5 อุตรดิตถ์|6 หนองคาย|7 บึงกาฬ
3|1 ตาก|2 สุโขทัย|3 พิษณุโลก|4 เลย|5 หนองบัวลำภู|6 อุดรธานี|7 สกลนคร|8 นครพนม
4|2 กำแพงเพชร|3 พิจิตร|4 เพชรบูรณ์|5 ชัยภูมิ|6 ขอนแก่น|7 กาฬสินธุ์|8 มุกดาหาร
5|1 อุทัยธานี|2 นครสวรรค์|3 ชัยนาท|4 ลพบุรี|5 นครราชสีมา|6 มหาสารคาม|7 ร้อยเอ็ด|8 ยโสธร|9 อำนาจเจริญ
6|0 กาญจนบุรี|1 สุพรรณบุรี|2 สิงห์บุรี|3 อ่างทอง|4 สระบุรี|5 บุรีรัมย์|6 สุรินทร์|7 ศรีสะเกษ|8 อุบลราชธานี
7|0 ราชบุรี|1 นครปฐม|2 พระนครศรีอยุธยา|3 ปทุมธานี|4 นครนายก|5 ปราจีนบุรี|6 สระแก้ว
8|0 เพชรบุรี|1 สมุทรสาคร|2 นนทบุรี|3 กรุงเทพมหานคร|4 ฉะเชิงเทรา
9|1 สมุทรสงคราม|3 สมุทรปราการ|4 ชลบุรี|5 ระยอง|6 จันทบุรี|7 ตราด
10|0 ประจวบคีรีขันธ์
11|0 ระนอง|1 ชุมพร
12|0 พังงา|1 สุราษฎร์ธานี
13|0 ภูเก็ต|1 กระบี่|2 นครศรีธรรมราช
14|1 ตรัง|2 พัทลุง
15|1 สตูล|2 สงขลา|3 ปัตตานี
16|2 ยะลา|3 นราธิวาส
"""


def _tiles() -> tuple[Tile, ...]:
    out = []
    for line in _GRID.strip().splitlines():
        row, *cells = line.split("|")
        for cell in cells:
            col, name = cell.split(" ", 1)
            out.append(Tile(name, int(row), int(col)))
    return tuple(out)


TILES = _tiles()
ROWS = 1 + max(t.row for t in TILES)
COLS = 1 + max(t.col for t in TILES)
