"""`python -m bot.cli …` as a real process, without paying for its imports every time.

Importing the app (LINE and Telegram SDKs, SQLAlchemy, alembic, pydantic) takes a second or
more per process, several seconds on a busy machine, and the command-line tests start dozens of
short processes. `run()` asks a preloaded process (started once per test session, the "zygote")
to fork a child for each command. The child is a real, separate process: it gets the command's
environment (exactly that environment, plus what the imports set with `os.environ.setdefault`,
as a fresh interpreter would), working directory, stdin, stdout and stderr as its file
descriptors 0, 1 and 2, and `sys.argv` as `python -m bot.cli` has it; it runs
`bot.cli.main.main(argv)` the way `bot/cli/__main__.py` does (`SystemExit`, an uncaught
exception's traceback on stderr and exit 1) and exits with that code. What it does not repeat
is the import itself and the first-use build of the Thai word lists (pure data): `test_cli.py`
keeps one command that runs `python -m bot.cli` from scratch.

TIPBOT_TEST_CLI_FORK=0 runs every command as a fresh `python -m bot.cli` instead.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import io
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRELOAD = (
    "bot.cli.main",
    "bot.app",
    "handlers.line",
    "handlers.telegram",
    "storage.database",
    "storage.repositories",
    "alembic.command",
)

_lock = threading.Lock()
_zygote: tuple[subprocess.Popen[bytes], str] | None = None


def forking() -> bool:
    return os.environ.get("TIPBOT_TEST_CLI_FORK", "1") != "0" and hasattr(os, "fork")


class Forked:
    """A `tipbot` process forked from the zygote, with the parts of `subprocess.Popen` the tests
    use: `pid`, `returncode`, `poll()`, `wait()`, `send_signal()`, `terminate()`, `kill()`.
    Its exit status comes from its parent (a small monitor process forked beside it), exactly as
    `waitpid` gives it: the exit code, or minus the signal that ended it."""

    def __init__(self, args: Sequence[str], conn: socket.socket) -> None:
        self.args = ["tipbot", *args]
        self._conn = conn
        conn.settimeout(60)
        self.pid: int = struct.unpack("!i", _recv_exact(conn, 4))[0]
        self.returncode: int | None = None
        self.stdin = self.stdout = self.stderr = None  # as a Popen without pipes

    def poll(self) -> int | None:
        if self.returncode is None:
            self._conn.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                self._read_status()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._conn.settimeout(timeout)
            try:
                self._read_status()
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
        assert self.returncode is not None
        return self.returncode

    def _read_status(self) -> None:
        raw = self._conn.recv(4)
        if len(raw) < 4:  # the rest of a 4-byte message is right behind the first bytes
            self._conn.setblocking(True)
            raw += _recv_exact(self._conn, 4 - len(raw), eof_ok=True) if raw else b""
        if len(raw) < 4:
            raise ConnectionError("the monitor of a tipbot process closed its connection")
        self.returncode = struct.unpack("!i", raw)[0]
        self._conn.close()

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def spawn(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path = ROOT,
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
) -> Forked | subprocess.Popen[bytes]:
    """Start `python -m bot.cli *args` (forked, preloaded) with the given file descriptors
    (`None`: /dev/null); a `subprocess.Popen` of a new interpreter with TIPBOT_TEST_CLI_FORK=0."""
    if not forking():
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *args],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL if stdin is None else stdin,
            stdout=subprocess.DEVNULL if stdout is None else stdout,
            stderr=subprocess.DEVNULL if stderr is None else stderr,
        )
    with contextlib.ExitStack() as stack:
        null = stack.enter_context(open(os.devnull, "r+b"))
        fds = [null.fileno() if fd is None else fd for fd in (stdin, stdout, stderr)]
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(_socket_path())
            request = json.dumps({"argv": list(args), "env": dict(env), "cwd": str(cwd)}).encode()
            socket.send_fds(conn, [struct.pack("!I", len(request)) + request], fds)
            return Forked(args, conn)
        except BaseException:
            conn.close()
            raise


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path = ROOT,
    stdin: bytes | None = None,
    timeout: float = 120,
    fresh: bool = False,
) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m bot.cli *args` (forked from the zygote unless `fresh`); output as bytes."""
    if fresh or not forking():
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            env=dict(env),
            cwd=cwd,
            input=stdin if stdin is not None else b"",
            capture_output=True,
            timeout=timeout,
        )
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(tempfile.TemporaryFile()) for _ in range(3)]
        files[0].write(stdin or b"")
        files[0].seek(0)
        proc = spawn(
            args,
            env=env,
            cwd=cwd,
            stdin=files[0].fileno(),
            stdout=files[1].fileno(),
            stderr=files[2].fileno(),
        )
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        out, err = (_read(f) for f in files[1:])
    return subprocess.CompletedProcess(["tipbot", *args], code, out, err)


async def run_async(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path = ROOT,
    stdin: bytes | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[bytes]:
    """`run` without blocking the event loop (a test's fake platforms keep answering meanwhile)."""
    return await asyncio.to_thread(run, args, env=env, cwd=cwd, stdin=stdin, timeout=timeout)


def _read(f: object) -> bytes:
    assert hasattr(f, "seek") and hasattr(f, "read")
    f.seek(0)
    data: bytes = f.read()
    return data


def _recv_exact(conn: socket.socket, n: int, *, eof_ok: bool = False) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            if eof_ok and not data:
                return b""
            raise ConnectionError("the command's process closed its connection")
        data += chunk
    return data


def _socket_path() -> str:
    global _zygote
    with _lock:
        if _zygote is None or _zygote[0].poll() is not None:
            folder = tempfile.mkdtemp(prefix="tipbot-cli-")
            path = os.path.join(folder, "zygote.sock")
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.cli_process", path],
                cwd=ROOT,
                stdin=subprocess.PIPE,  # the zygote exits when this pipe closes (the tests ended)
                stdout=subprocess.PIPE,
            )
            assert proc.stdout is not None
            ready = proc.stdout.readline()
            assert ready == b"ready\n", f"the command-line zygote did not start: {ready!r}"
            atexit.register(_stop, proc)
            _zygote = (proc, path)
        return _zygote[1]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the zygote -------------------------------------------------------------------------------


def _serve(path: str) -> None:
    import importlib

    before = dict(os.environ)
    for name in PRELOAD:
        importlib.import_module(name)
    added = {k: v for k, v in os.environ.items() if k not in before}
    # The Thai word lists, tokenizer and gazetteer are built on first use (`tipbot serve` builds
    # them at start); pure data, built once here instead of in every `chat` and `parse`.
    from datetime import date

    from bot import thai
    from bot.core.routing import RegionTable

    thai.extract("นายก อบต. จ.สุรินทร์ 500 บาท เมื่อวาน", date(2026, 1, 1), RegionTable.load())
    assert threading.active_count() == 1, "the zygote must not run threads: it forks"
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ)
    sel.register(0, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj == 0:
                if not os.read(0, 4096):  # the test session is over
                    os._exit(0)
                continue
            conn, _ = server.accept()
            with conn:
                header, fds, _, _ = socket.recv_fds(conn, 4, 3)
                size = struct.unpack("!I", header)[0]
                request = _recv_exact(conn, size)
                if os.fork() == 0:  # the monitor: forks the command and reports how it ended
                    server.close()
                    sel.close()
                    _monitor(conn, json.loads(request), fds, added)  # never returns
                for fd in fds:
                    os.close(fd)


def _monitor(conn: socket.socket, request: dict[str, object], fds: list[int], added: dict[str, str]) -> None:
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        pid = os.fork()
        if pid == 0:
            _child(conn, request, fds, added)  # never returns
        for fd in fds:
            os.close(fd)
        conn.sendall(struct.pack("!i", pid))
        _, status = os.waitpid(pid, 0)
        conn.sendall(struct.pack("!i", os.waitstatus_to_exitcode(status)))
    finally:
        os._exit(0)


def _child(conn: socket.socket, request: dict[str, object], fds: list[int], added: dict[str, str]) -> None:
    code = 70
    try:
        conn.close()
        import importlib.util
        import traceback
        import types

        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        env = request["env"]
        assert isinstance(env, dict)
        os.environ.clear()
        os.environ.update(env)
        for k, v in added.items():
            os.environ.setdefault(k, v)
        os.chdir(str(request["cwd"]))
        # stdout and stderr as a new interpreter opens them with this environment
        unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
        for name, fd, errors in (("stdout", 1, "strict"), ("stderr", 2, "backslashreplace")):
            raw = io.FileIO(fd, "wb", closefd=False)
            setattr(
                sys,
                name,
                io.TextIOWrapper(
                    raw if unbuffered else io.BufferedWriter(raw),
                    encoding="utf-8",
                    errors=errors,
                    line_buffering=fd == 2 or raw.isatty(),
                    write_through=unbuffered,
                ),
            )
        argv = [str(a) for a in request["argv"]]  # type: ignore[attr-defined]
        spec = importlib.util.find_spec("bot.cli.__main__")
        assert spec is not None and spec.origin is not None
        main_module = types.ModuleType("__main__")
        main_module.__file__ = spec.origin
        main_module.__spec__ = spec  # multiprocessing's spawn reads it, as under `python -m`
        sys.modules["__main__"] = main_module
        sys.argv = [spec.origin, *argv]
        from bot.cli.main import main

        try:
            result: object = main(argv)
        except SystemExit as exit_:
            result = exit_.code
        except BaseException:
            traceback.print_exc()
            result = 1
        if result is None:
            code = 0
        elif isinstance(result, int):
            code = result
        else:
            print(result, file=sys.stderr)
            code = 1
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)


if __name__ == "__main__":
    _serve(sys.argv[1])
