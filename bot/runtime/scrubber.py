"""The image worker: runs `evidence.scrub` off the event loop, in worker processes whose address space
is capped, one file each at a time, and starts them again when one dies or hangs.

Decoding a hostile image can take gigabytes and seconds of CPU; none of that may reach the server
process or its event loop. Knows nothing of storage or platforms.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import resource
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from bot.core import evidence
from bot.core.evidence import Outcome, Scrubbed

log = logging.getLogger("tipbot.evidence")

#: files one worker process handles before it is replaced (keeps heap fragmentation bounded)
TASKS_PER_WORKER = 50


def _limit_memory(memory_bytes: int) -> None:
    """Initializer of each worker process: a decoder that asks for more gets MemoryError, not the host."""
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from PIL import Image  # imported now, so the first file does not pay for it

    # `evidence.scrub` enforces its own, lower pixel bound from the header; Pillow's would refuse a
    # 108-megapixel JPEG that can be decoded at 1/4 size for next to nothing.
    Image.MAX_IMAGE_PIXELS = None


class Scrubber:
    """`await scrub(data, mime)`: the copy staff may see, or a held verdict.

    `processes` worker processes (spawned, never forked from the server with its threads and sockets)
    with an address-space cap of `memory_bytes`; `processes=0` runs the work in a thread of this
    process instead (no memory cap: for tests and tiny deployments). A file that takes longer than
    `timeout` seconds is held and its worker killed.
    """

    def __init__(
        self,
        *,
        max_pixels: int = evidence.DEFAULT_MAX_PIXELS,
        memory_bytes: int = 1024 * 1024 * 1024,
        timeout: float = 30.0,
        processes: int = 1,
        send_files: bool = False,
    ) -> None:
        self.max_pixels = max_pixels
        self.memory_bytes = memory_bytes
        self.timeout = timeout
        self.processes = processes
        self.send_files = send_files
        self._pool: ProcessPoolExecutor | None = None
        # One file per worker at a time, so a timeout only ever kills the file that caused it.
        self._slots = asyncio.Semaphore(max(1, processes))
        self._closed = False

    async def scrub(self, data: bytes, mime: str) -> Scrubbed:
        async with self._slots:
            if self.processes <= 0:
                work = asyncio.to_thread(
                    evidence.scrub, data, mime, max_pixels=self.max_pixels, send_files=self.send_files
                )
                try:
                    return await asyncio.wait_for(work, self.timeout)
                except TimeoutError:
                    log.warning("image work took over %.0f s on one file: file held", self.timeout)
                    return Scrubbed(None, Outcome.HELD_WORKER)
            pool = self._started()
            try:
                future: Future[Scrubbed] = pool.submit(
                    evidence.scrub, data, mime, max_pixels=self.max_pixels, send_files=self.send_files
                )
            except (BrokenProcessPool, RuntimeError):
                self._discard(pool)
                pool = self._started()
                future = pool.submit(
                    evidence.scrub, data, mime, max_pixels=self.max_pixels, send_files=self.send_files
                )
            try:
                return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
            except TimeoutError:
                log.warning("image worker took over %.0f s on one file: killed, file held", self.timeout)
                self._discard(pool, kill=True)
                return Scrubbed(None, Outcome.HELD_WORKER)
            except BrokenProcessPool:
                # The worker died (killed by the kernel, a decoder crash): a new one takes the next file.
                log.warning("image worker died on one file: restarted, file held")
                self._discard(pool)
                return Scrubbed(None, Outcome.HELD_WORKER)
            except Exception as exc:  # MemoryError under the cap, or anything else: held, never sent as is
                log.warning("image worker failed on one file (%s): file held", type(exc).__name__)
                return Scrubbed(None, Outcome.HELD_WORKER)

    def _started(self) -> ProcessPoolExecutor:
        if self._closed:
            raise RuntimeError("the image worker is closed")
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_limit_memory,
                initargs=(self.memory_bytes,),
                max_tasks_per_child=TASKS_PER_WORKER,
            )
        return self._pool

    def _discard(self, pool: ProcessPoolExecutor, *, kill: bool = False) -> None:
        if self._pool is pool:
            self._pool = None
        if kill:
            # The executor has no public way to stop a busy worker (before Python 3.14).
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(asyncio.to_thread(pool.shutdown, True, cancel_futures=True), 5.0)
        except TimeoutError:
            self._discard(pool, kill=True)
