"""The case desk's exports: CSV that Excel opens as UTF-8 (a byte-order mark first) and XLSX,
both safe against spreadsheet formula injection."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from defusedcsv import csv as safe_csv
from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING

#: what a spreadsheet would read as the start of a formula (as defusedcsv sees it)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def csv_bytes(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = safe_csv.writer(out)
    writer.writerow(head)
    writer.writerows(rows)
    # Excel reads a CSV as the machine's code page unless it starts with a UTF-8 byte-order mark.
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _safe_text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def xlsx_bytes(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("tips")
    ws.append(list(head))
    for row in rows:
        ws.append([_safe_text(v) if isinstance(v, str) else v for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


__all__ = ["TYPE_STRING", "csv_bytes", "xlsx_bytes"]
