"""Open a report in real headless Chromium and record what the page did (used by the browser test).

Chromium is driven through its DevTools protocol over ``--remote-debugging-pipe``: JSON messages
separated by NUL bytes on file descriptors 3 (commands in) and 4 (responses and events out). That
needs no dependency (no websockets client), sees every request the page makes
(``Network.requestWillBeSent``), every console message and uncaught exception
(``Runtime.consoleAPICalled``, ``Runtime.exceptionThrown``, ``Log.entryAdded`` — CSP violations and
failed loads land there), can read each image's natural size after load (``Runtime.evaluate``),
and takes a full-page screenshot (``Page.captureScreenshot`` with ``captureBeyondViewport``).
DNS is mapped to nowhere (``--host-resolver-rules``) so a request, if the page made one, could not
leave the machine; it would still be recorded, which is what the check counts.
"""
from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--remote-debugging-pipe"]
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> Optional[str]:
    """``$NNSAFETY_CHROMIUM`` or the first Chromium/Chrome on PATH, else None."""
    env = os.environ.get("NNSAFETY_CHROMIUM")
    if env:
        return env if shutil.which(env) or os.path.isfile(env) else None
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


@dataclass
class PageCheck:
    """What happened when the page loaded."""

    url: str
    requests: List[str] = field(default_factory=list)  # every URL the page requested (data: shortened)
    console_errors: List[str] = field(default_factory=list)
    images: List[Dict[str, Any]] = field(default_factory=list)  # src (shortened), naturalWidth/Height
    screenshot: bytes = field(default=b"", repr=False)
    title: str = ""

    @property
    def external_requests(self) -> List[str]:
        """Requests other than the file itself and inline ``data:`` URIs."""
        return [u for u in self.requests if not (u.startswith("data:") or u == self.url)]

    @property
    def broken_images(self) -> List[Dict[str, Any]]:
        return [i for i in self.images if not (i["w"] > 0 and i["h"] > 0)]


class _Pipe:
    """Minimal CDP client: ``send`` a command and wait for its answer; events are collected."""

    def __init__(self, proc: subprocess.Popen, write_fd: int, read_fd: int) -> None:
        self.proc, self.wfd, self.next_id = proc, write_fd, 0
        self.replies: "queue.Queue[dict]" = queue.Queue()
        self.events: List[dict] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._reader, args=(read_fd,), daemon=True).start()

    def _reader(self, fd: int) -> None:
        buf = b""
        with os.fdopen(fd, "rb", buffering=0) as f:
            while True:
                chunk = f.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
                while b"\0" in buf:
                    raw, buf = buf.split(b"\0", 1)
                    msg = json.loads(raw)
                    if "id" in msg:
                        self.replies.put(msg)
                    else:
                        with self._lock:
                            self.events.append(msg)

    def send(self, method: str, params: Optional[dict] = None, session: Optional[str] = None,
             timeout: float = 30.0) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.wfd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self.replies.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"Chromium did not answer {method} within {timeout:g} s") from None
            if reply["id"] == msg["id"]:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})

    def wait_event(self, method: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if any(e.get("method") == method for e in self.events):
                    return True
            time.sleep(0.05)
        return False


def _short(url: str) -> str:
    return url[:40] + "…" if url.startswith("data:") and len(url) > 40 else url


def check_page(path: str | os.PathLike, chromium: Optional[str] = None, width: int = 1200,
               timeout: float = 60.0, settle: float = 0.5) -> PageCheck:
    """Load the HTML file ``path`` in headless Chromium and return requests, console errors,
    image sizes and a full-page PNG screenshot (``width`` CSS px wide)."""
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError("expected a Chromium executable (chromium, google-chrome or $NNSAFETY_CHROMIUM), "
                                "found none")
    url = Path(path).resolve().as_uri()
    profile = tempfile.mkdtemp(prefix="nnsafety-chromium-")
    cmd_r, cmd_w = os.pipe()
    resp_r, resp_w = os.pipe()
    # Move the child's ends out of the way of 3/4 before dup2 (they might be 3 or 4 already).
    hi_r, hi_w = _dup_high(cmd_r), _dup_high(resp_w)

    def child_fds() -> None:
        os.dup2(hi_r, 3)
        os.dup2(hi_w, 4)

    proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},900", "about:blank"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            pass_fds=(3, 4), preexec_fn=child_fds)
    for fd in (cmd_r, resp_w, hi_r, hi_w):
        os.close(fd)
    cdp = _Pipe(proc, cmd_w, resp_r)
    try:
        target = cdp.send("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
        session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            cdp.send(f"{domain}.enable", session=session)
        cdp.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1,
                                                         "mobile": False}, session=session)
        cdp.send("Page.navigate", {"url": url}, session=session)
        if not cdp.wait_event("Page.loadEventFired", timeout):
            raise TimeoutError(f"{url} did not finish loading within {timeout:g} s")
        time.sleep(settle)  # late console messages and image decodes
        js = ("JSON.stringify({title: document.title, images: Array.from(document.images).map(i => "
              "({src: i.currentSrc || i.src, w: i.naturalWidth, h: i.naturalHeight, complete: i.complete}))})")
        page = json.loads(cdp.send("Runtime.evaluate", {"expression": js, "returnByValue": True},
                                   session=session)["result"]["value"])
        size = cdp.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
        cdp.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": int(size["height"]),
                                                         "deviceScaleFactor": 1, "mobile": False}, session=session)
        shot = cdp.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                        session=session, timeout=timeout)["data"]
        result = PageCheck(url=url, title=page["title"], screenshot=base64.b64decode(shot),
                           images=[{**i, "src": _short(i["src"])} for i in page["images"]])
        for e in list(cdp.events):
            m, p = e.get("method"), e.get("params", {})
            if m == "Network.requestWillBeSent":
                result.requests.append(_short(p["request"]["url"]))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                result.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
            elif m == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                result.console_errors.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                result.console_errors.append(f"{p['entry'].get('source')}: {p['entry'].get('text')}")
        try:
            cdp.send("Browser.close", timeout=10)
        except (TimeoutError, RuntimeError, OSError):
            pass
        return result
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(cmd_w)
        shutil.rmtree(profile, ignore_errors=True)


def _dup_high(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
