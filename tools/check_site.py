"""Open every page of the built course site in headless Chromium and check it (offline).

    python tools/check_site.py build/site [--chromium chromium] [--timeout 60]
    python tools/check_site.py build/notebooks --pages "[0-9]*.html"     # make's pages (no index)

For each chapter page (``NN_*.html``) and the index: the page loads, has its <title>, MathJax has
typeset its equations (``mjx-container`` elements, no raw ``$$`` or ``$`` left in the visible text), its
figures are there (images decoded, plotly figures drawn as SVG), and the page requested nothing
but local files (with the network switched off). Chromium is driven through its DevTools protocol
(tornado's websocket client).
Prints one line per page; exits 1 if any page fails.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tornado.websocket import websocket_connect

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]

# Runs in the page once loaded: waits for MathJax, then reports what the checks need.
PROBE = """
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  await new Promise(r => setTimeout(r, 300));
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll('script, style, pre, code, textarea, mjx-assistive-mml').forEach(e => e.remove());
  const text = clone.innerText || clone.textContent;
  const imgs = Array.from(document.querySelectorAll('img'));
  return JSON.stringify({
    title: document.title,
    h1: (document.querySelector('h1') || {}).textContent || '',
    mathjax: !!window.MathJax,
    math: document.querySelectorAll('mjx-container, .MathJax_CHTML, .MathJax_Display, .MathJax').length,
    math_source: document.querySelectorAll('.math, span.math, div.math').length,
    raw_dollars: (text.match(/\\$\\$/g) || []).length,
    raw_dollar: (text.match(/\\$/g) || []).length,
    raw_tex: (text.match(/\\\\(frac|sum|theta|mathbf|vec)\\b/g) || []).length,
    images: imgs.length,
    broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80)),
    plotly_divs: document.querySelectorAll('.plotly-graph-div').length,
    plotly_drawn: Array.from(document.querySelectorAll('.plotly-graph-div')).filter(d => d.querySelector('.main-svg')).length,
  });
})()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One headless Chromium with a DevTools websocket to one page target."""

    def __init__(self, chromium: str):
        self.port = _free_port()
        self.profile = tempfile.mkdtemp(prefix="posekit-chromium-")
        self.proc = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
                                      f"--remote-debugging-port={self.port}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.next_id, self.events = 0, []

    def page_ws_url(self, timeout: float = 30.0) -> str:
        t0 = time.time()
        while time.time() - t0 < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=2) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("Chromium did not open its DevTools port")

    async def connect(self):
        self.ws = await websocket_connect(self.page_ws_url(), max_message_size=1 << 28)

    async def send(self, method: str, **params):
        self.next_id += 1
        mid = self.next_id
        await self.ws.write_message(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(await self.ws.read_message())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    async def wait_event(self, name: str, timeout: float):
        t0 = time.time()
        for i, e in enumerate(self.events):
            if e.get("method") == name:
                return self.events.pop(i)
        while time.time() - t0 < timeout:
            msg = json.loads(await asyncio.wait_for(self.ws.read_message(), timeout))
            self.events.append(msg)
            if msg.get("method") == name:
                return msg
        raise TimeoutError(name)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


async def check_page(browser: Browser, page: Path, timeout: float) -> tuple[bool, str]:
    browser.events.clear()
    await browser.send("Network.enable")
    # the network off: a page that needs anything but local files fails to load it (and is reported)
    await browser.send("Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1,
                       uploadThroughput=-1)
    await browser.send("Page.enable")
    await browser.send("Page.navigate", url=page.resolve().as_uri())
    await browser.wait_event("Page.loadEventFired", timeout)
    res = await browser.send("Runtime.evaluate", expression=PROBE, awaitPromise=True, returnByValue=True,
                             timeout=int(timeout * 1000))
    info = json.loads(res["result"]["value"])
    urls = {e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"}
    remote = sorted(u for u in urls if not u.startswith(("file://", "data:", "blob:", "about:")))
    problems = []
    if not info["title"].strip():
        problems.append("no <title>")
    if not info["h1"].strip():
        problems.append("no heading")
    if info["math_source"] and not info["math"]:
        problems.append(f"{info['math_source']} equations not typeset (MathJax loaded: {info['mathjax']})")
    if info["raw_dollars"]:
        problems.append(f"{info['raw_dollars']} raw '$$' left in the text")
    elif info["raw_dollar"]:
        problems.append(f"{info['raw_dollar']} raw '$' left in the text")
    if info["broken_images"]:
        problems.append(f"images not loaded: {info['broken_images'][:3]}")
    if info["plotly_divs"] and info["plotly_drawn"] < info["plotly_divs"]:
        problems.append(f"{info['plotly_divs'] - info['plotly_drawn']} of {info['plotly_divs']} plotly figures not drawn")
    if remote:
        problems.append(f"requests to non-local URLs: {remote[:5]}")
    summary = (f"title {info['title']!r}; {info['math']} equations; {info['images']} images; "
               f"{info['plotly_drawn']}/{info['plotly_divs']} plotly")
    return not problems, summary + ("" if not problems else " -- " + "; ".join(problems))


async def check_site(site: Path, chromium: str, timeout: float, require_figures: bool,
                     pages_glob: str | None = None) -> bool:
    if pages_glob is None:                     # the course site: its index and every chapter page
        pages = [site / "index.html", *sorted(site.glob("[0-9]*.html"))]
        if not pages[0].exists():
            raise SystemExit(f"{site}: no index.html (build the site first: make site)")
    else:
        pages = sorted(site.glob(pages_glob))
        if not pages:
            raise SystemExit(f"{site}: no page matches {pages_glob!r}")
    browser = Browser(chromium)
    ok_all = True
    try:
        await browser.connect()
        for page in pages:
            t0 = time.time()
            try:
                ok, summary = await check_page(browser, page, timeout)
            except (TimeoutError, asyncio.TimeoutError) as e:
                ok, summary = False, f"timed out waiting for {e}"
            if ok and require_figures and page.name != "index.html":
                if " 0 images" in summary and "0/0 plotly" in summary:
                    ok, summary = False, summary + " -- no figures"
            ok_all &= ok
            print(f"{'ok  ' if ok else 'FAIL'} {page.name}: {summary} ({time.time() - t0:.1f} s)", flush=True)
    finally:
        browser.close()
    return ok_all


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("site", type=Path, help="the built site folder (e.g. build/site)")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per page")
    ap.add_argument("--allow-no-figures", action="store_true", help="do not require a figure per chapter")
    ap.add_argument("--pages", default=None, metavar="GLOB",
                    help="check the pages matching GLOB instead of a site's index and chapters (e.g. '[0-9]*.html')")
    args = ap.parse_args(argv)
    if not shutil.which(args.chromium):
        raise SystemExit(f"Chromium not found ({args.chromium!r}): apt-get install -y chromium")
    ok = asyncio.run(check_site(args.site, args.chromium, args.timeout, not args.allow_no_figures, args.pages))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
