"""The documentation site as a reader's browser shows it.

Builds the site (``mkdocs build --strict``), serves it on 127.0.0.1, opens every page in
headless Chromium (Debian's ``chromium``, driven over the DevTools protocol on a pipe: no
driver, no npm package) and fails when

* a formula is not typeset: a MathJax error, an arithmatex span without MathJax output, or raw
  ``\\(`` … ``\\)``, ``\\[`` … ``\\]`` or ``$$`` left in the text;
* a mermaid block is not turned into an SVG (or mermaid drew its error diagram);
* an image is missing, a request fails (HTTP status >= 400), a request leaves 127.0.0.1 (the site
  must need no CDN), or a script throws.

Screenshots of the home, derivation, consistency and API pages go to ``$CI_ARTIFACTS`` (default
``.ci/artifacts/``, which git ignores). Installs Chromium with apt-get when it is missing.

Usage: ``python .ci/check_docs.py [--site DIR] [--artifacts DIR] [--page PATH ...]``
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: pages whose screenshots are kept (site paths).
SCREENSHOT_PAGES = {"": "home", "derivation/": "derivation", "consistency/": "consistency",
                    "api/": "api", "walkthrough_notebook/": "notebook"}

#: screenshot viewport, in CSS pixels; a screenshot covers at most this page height (the API
#: page is tens of thousands of pixels long).
VIEWPORT = (1280, 900)
MAX_SCREENSHOT_HEIGHT = 3600

#: seconds a page may take to load and to finish typesetting and drawing (a cold MathJax and
#: mermaid take about a second; the API page has hundreds of formulas).
PAGE_TIMEOUT = 60.0

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--remote-debugging-pipe"]

# Material draws each mermaid diagram into a *closed* shadow root; opened here so the check can
# see the SVG inside.
OPEN_SHADOW_ROOTS = """
(() => {
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    return attach.call(this, Object.assign({}, init, {mode: "open"}));
  };
})();
"""

# Waits until MathJax and mermaid are done, then reports what a reader would see as broken.
INSPECT = r"""
(async () => {
  const deadline = Date.now() + %(timeout_ms)d;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const pending = () => document.querySelectorAll("pre.mermaid, pre > code.language-mermaid").length
                         + [...document.querySelectorAll("div.mermaid")].filter(
                             (d) => !(d.shadowRoot && d.shadowRoot.querySelector("svg"))).length;
  const mathPending = () => [...document.querySelectorAll(".arithmatex")].filter(
      (e) => !e.querySelector("mjx-container")).length;
  while (Date.now() < deadline) {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      try { await MathJax.startup.promise; } catch (e) {}
    }
    if (!pending() && !mathPending() && document.readyState === "complete") break;
    await sleep(200);
  }
  await sleep(300);
  const problems = [];
  const content = document.querySelector("article") || document.body;
  const errors = new Set([...content.querySelectorAll("mjx-merror")].map(
      (e) => (e.getAttribute("data-mjx-error") || e.textContent).slice(0, 160)));
  for (const e of [...errors].slice(0, 5)) problems.push("MathJax error: " + e);
  const untypeset = [...content.querySelectorAll(".arithmatex")].filter((e) => !e.querySelector("mjx-container"));
  for (const e of untypeset.slice(0, 5)) problems.push("formula not typeset: " + e.textContent.slice(0, 160));
  if (untypeset.length > 5) problems.push(`... ${untypeset.length - 5} more formulas not typeset`);
  // raw TeX delimiters in the text a reader sees (code blocks are code, and stay code)
  const walker = document.createTreeWalker(content, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => n.parentElement.closest("pre, code, script, style, textarea, mjx-container, .arithmatex")
                       ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  const raw = /\\\(|\\\)|\\\[|\\\]|\$\$/;
  let rawCount = 0;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (raw.test(n.data)) {
      rawCount += 1;
      if (rawCount <= 5) problems.push("raw TeX in the text: " + JSON.stringify(n.data.trim().slice(0, 160)));
    }
  }
  const left = document.querySelectorAll("pre.mermaid, pre > code.language-mermaid");
  for (const e of [...left].slice(0, 5)) problems.push("mermaid block not drawn: " + e.textContent.trim().replace(/\s+/g, " ").slice(0, 80));
  const diagrams = [...document.querySelectorAll("div.mermaid")];
  let drawn = 0;
  for (const d of diagrams) {
    const svg = d.shadowRoot && d.shadowRoot.querySelector("svg");
    if (!svg) { problems.push("mermaid container without an SVG"); continue; }
    if (svg.getAttribute("aria-roledescription") === "error" || /Syntax error/.test(svg.textContent)) {
      problems.push("mermaid drew its error diagram"); continue;
    }
    const box = svg.getBoundingClientRect();
    if (box.width < 20 || box.height < 20) { problems.push("mermaid SVG of size 0"); continue; }
    drawn += 1;
  }
  for (const img of document.images) {
    if (!img.complete || img.naturalWidth === 0) problems.push("image missing: " + img.getAttribute("src"));
  }
  return {problems, formulas: content.querySelectorAll("mjx-container").length, diagrams: drawn,
          images: document.images.length, height: document.documentElement.scrollHeight};
})()
"""


class Browser:
    """Headless Chromium over the DevTools protocol on a pipe (``--remote-debugging-pipe``)."""

    def __init__(self, chromium: str, profile: Path):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # fds 3 and 4 of the child are the protocol's input and output
        self._proc = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=_dup_to_3_4(to_child_r, from_child_w))
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def _send(self, method, params, session):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        return self._next_id

    def _read(self, deadline):
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        msg, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, *, session=None, timeout=PAGE_TIMEOUT + 30, **params):
        """Send one command and return its result; events that arrive meanwhile are kept."""
        mid = self._send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def page(self, method, **params):
        return self.call(method, session=self.session, **params)

    def wait_event(self, name, timeout=PAGE_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev["method"] == name:
                    del self.events[i]
                    return ev
            msg = self._read(deadline)
            if "method" in msg:
                self.events.append(msg)

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)


def _dup_to_3_4(read_end, write_end):
    def child():
        os.dup2(read_end, 3)
        os.dup2(write_end, 4)
    return child


def ensure_chromium() -> str:
    """Chromium's path; installs Debian's ``chromium`` package when it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit("check_docs: chromium is not installed (Debian: apt-get install chromium)")
    print("check_docs: installing chromium with apt-get", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return shutil.which("chromium")


def build_site(site: Path) -> None:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                    "--site-dir", str(site)], cwd=ROOT, check=True, env=env)


def site_pages(site: Path) -> list[str]:
    """The site paths of every page (``""`` for home, ``"derivation/"``, ...), 404 excluded."""
    pages = []
    for index in sorted(site.rglob("index.html")):
        rel = index.parent.relative_to(site).as_posix()
        if rel.startswith(("assets", "search")):
            continue
        pages.append("" if rel == "." else rel + "/")
    return pages


def serve(site: Path):
    """``python -m http.server`` on a free port of 127.0.0.1; returns (process, base URL)."""
    proc = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                             "--directory", str(site)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 43127 (http://...) ..."
    port = int(line.split(" port ")[1].split()[0])
    return proc, f"http://127.0.0.1:{port}/"


def check_page(browser: Browser, url: str, shot: Path | None) -> tuple[dict, list[str]]:
    browser.events.clear()
    browser.page("Page.navigate", url=url)
    browser.wait_event("Page.loadEventFired")
    result = browser.page("Runtime.evaluate", expression=INSPECT % {"timeout_ms": PAGE_TIMEOUT * 1000},
                          awaitPromise=True, returnByValue=True)
    if "exceptionDetails" in result:
        raise RuntimeError(f"inspecting {url}: {result['exceptionDetails']}")
    report = result["result"]["value"]
    problems = list(report["problems"])
    for ev in browser.events:
        p = ev.get("params", {})
        if ev["method"] == "Network.requestWillBeSent":
            req = p["request"]["url"]
            if not req.startswith(("http://127.0.0.1", "data:", "blob:", "about:")):
                problems.append(f"request leaves 127.0.0.1: {req[:120]}")
        elif ev["method"] == "Network.responseReceived" and p["response"]["status"] >= 400:
            problems.append(f"HTTP {p['response']['status']}: {p['response']['url'][:120]}")
        elif ev["method"] == "Network.loadingFailed" and not p.get("canceled"):
            problems.append(f"request failed ({p.get('errorText')})")
        elif ev["method"] == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text")
            problems.append(f"script error: {' '.join(str(text).split())[:160]}")
    if shot is not None:
        height = min(report["height"], MAX_SCREENSHOT_HEIGHT)
        png = browser.page("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                           clip={"x": 0, "y": 0, "width": VIEWPORT[0], "height": height, "scale": 1})
        shot.write_bytes(base64.b64decode(png["data"]))
    return report, problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", type=Path, default=None, help="check this built site (no build)")
    ap.add_argument("--artifacts", type=Path,
                    default=Path(os.environ.get("CI_ARTIFACTS") or ROOT / ".ci" / "artifacts"))
    ap.add_argument("--page", action="append", default=None, help="check only this site path")
    args = ap.parse_args(argv)
    start = time.monotonic()
    chromium = ensure_chromium()
    work = Path(tempfile.mkdtemp(prefix="symmle-docs-"))
    site = args.site
    if site is None:
        site = work / "site"
        build_site(site)
    args.artifacts.mkdir(parents=True, exist_ok=True)
    if args.artifacts == ROOT / ".ci" / "artifacts":
        (args.artifacts / ".gitignore").write_text("*\n")
    pages = args.page or site_pages(site)
    server, base = serve(site)
    browser = Browser(chromium, work / "profile")
    failed = 0
    try:
        browser.page("Page.enable")
        browser.page("Runtime.enable")
        browser.page("Network.enable")
        browser.page("Page.addScriptToEvaluateOnNewDocument", source=OPEN_SHADOW_ROOTS)
        browser.page("Emulation.setDeviceMetricsOverride", width=VIEWPORT[0], height=VIEWPORT[1],
                     deviceScaleFactor=1, mobile=False)
        for path in pages:
            name = SCREENSHOT_PAGES.get(path)
            shot = args.artifacts / f"{name}.png" if name else None
            report, problems = check_page(browser, base + path, shot)
            status = "FAIL" if problems else "ok"
            print(f"{status:4}  /{path:<20} {report['formulas']:4d} formulas  "
                  f"{report['diagrams']:2d} diagrams  {report['images']:2d} images"
                  + (f"  -> {shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot}"
                     if shot else ""), flush=True)
            for p in problems:
                print(f"      {p}")
            failed += bool(problems)
    finally:
        browser.close()
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"checked {len(pages)} pages in headless Chromium in {time.monotonic() - start:.0f} s")
    print(f"docs: {len(pages) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
