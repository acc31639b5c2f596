"""Headless Chromium for the tests, driven over the Chrome DevTools Protocol on a pipe.

``chromium --remote-debugging-pipe`` reads protocol messages (JSON, each ended by a NUL byte)
from its file descriptor 3 and writes replies and events to its descriptor 4: no port, no
websocket, nothing to install beyond Chromium itself. One browser serves several pages: open a
page at a viewport size, wait for its load event, evaluate JavaScript in it, take a screenshot,
and read every console message, uncaught exception and error log entry it caused.

Chromium comes from scripts/install-toolchains.sh --with-chromium (Debian's ``chromium``). It
runs as root in CI, hence ``--no-sandbox``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _high(fd: int) -> int:
    """``fd`` moved above 10 (close-on-exec), so that the child's descriptors 3 and 4 can be
    set from it without clobbering another."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Chromium:
    """One headless Chromium with one page target (``with Chromium(exe, dir) as b: ...``)."""

    def __init__(self, exe: str, workdir: Path, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.errors: list[str] = []  # the page's console messages, exceptions, error log entries
        self._next_id = 0
        self._buf = b""
        to_child_r, to_child_w = map(_high, os.pipe())
        from_child_r, from_child_w = map(_high, os.pipe())

        def wire() -> None:  # in the child, before exec: the pipe ends on descriptors 3 and 4
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "chromium-stderr.log"
        with self.log.open("wb") as err:
            self._proc = subprocess.Popen(
                [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-extensions", "--remote-debugging-pipe",
                 f"--user-data-dir={workdir / 'profile'}", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                pass_fds=(3, 4), preexec_fn=wire,
            )  # fmt: skip
        os.close(to_child_r)
        os.close(from_child_w)
        self._out, self._in = to_child_w, from_child_r
        try:
            target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
            attached = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})
            self._session: str | None = attached["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                self.call(f"{domain}.enable")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the protocol ------------------------------------------------------------------------------

    def _send(self, method: str, params: dict[str, Any] | None, session: str | None) -> int:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        return self._next_id

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer within {self.timeout:.0f} s")
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"Chromium closed the DevTools pipe; its stderr: {tail}")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        msg: dict[str, Any] = json.loads(raw)
        self._note(msg)
        return msg

    def _note(self, msg: dict[str, Any]) -> None:
        """Keep what the page reports as wrong: console calls, exceptions, error log entries."""
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled":
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            self.errors.append(f"console.{p.get('type')}: {args}")
        elif method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            self.errors.append(f"exception: {d.get('exception', {}).get('description', d['text'])}")
        elif method == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
            self.errors.append(f"log {p['entry']['level']}: {p['entry']['text']}")

    def _call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        sent = self._send(method, params, session)
        while True:
            msg = self._receive()
            if msg.get("id") == sent:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg["result"]
                return result

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A command to the page."""
        return self._call(method, params, self._session)

    def _wait_event(self, method: str) -> dict[str, Any]:
        while True:
            msg = self._receive()
            if msg.get("method") == method and msg.get("sessionId") == self._session:
                return msg

    # -- what the tests use ----------------------------------------------------------------------

    def open(self, url: str, width: int, height: int) -> None:
        """Load ``url`` in a ``width`` x ``height`` CSS-pixel viewport (scale 1) and wait for its
        load event; the page's errors start afresh."""
        self.viewport(width, height)
        self.errors = []
        self.call("Page.navigate", {"url": url})
        self._wait_event("Page.loadEventFired")

    def viewport(self, width: int, height: int) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable)."""
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluating failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def screenshot(self, path: Path) -> bytes:
        """A PNG of the viewport, written to ``path``."""
        png = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])
        path.write_bytes(png)
        return png

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._send("Browser.close", None, None)
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        for fd in (self._out, self._in):
            with contextlib.suppress(OSError):
                os.close(fd)
