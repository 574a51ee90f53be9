"""Small measuring helpers the benchmarks share: a free port, percentiles, a process's peak RSS,
waiting for a server's /healthz."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a running process (VmHWM), in MB; NaN once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def wait_healthy(url: str) -> None:
    """Until `url`/healthz answers 200 (at most a minute)."""
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            try:
                async with http.get(url + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not start")


#: the volunteer's walk through the report form the benchmarks drive:
#: (kind, value, text expected in the reply)
SCRIPT: list[tuple[str, str, str]] = [
    ("text", "สวัสดี", "คุณยินยอม"),
    ("tap", "ยินยอม", "คุณอยู่จังหวัดอะไร"),
    ("text", "สุรินทร์", "บันทึกแล้ว"),
    ("tap", "แจ้งเบาะแส", "ประเภทไหน"),
    ("tap", "จัดซื้อจัดจ้าง/ฮั้วประมูล", "เล่าสิ่งที่เกิดขึ้น"),
    ("text", "ผู้รับเหมารายเดิมได้งานทุกโครงการ ราคากลางสูงเกินจริง", "หน่วยงาน"),
    ("text", "ข้าม", "ตำแหน่ง"),
    ("text", "ข้าม", "จังหวัดไหน"),
    ("text", "อ.ปราสาท จ.สุรินทร์", "เมื่อไร"),
    ("text", "3 มี.ค. 69", "เงินเกี่ยวข้อง"),
    ("text", "2 ล้าน", "หลักฐาน"),
    ("tap", "ไม่มีหลักฐาน", "ถามคุณผ่านแชตนี้"),
    ("tap", "ไม่ต้องติดต่อ", "ตรวจสอบข้อมูล"),
    ("tap", "ยืนยันส่ง", "รหัสเรื่อง"),
]
