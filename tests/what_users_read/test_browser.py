"""The HTML report as a person sees it: graded for real, opened in headless Chromium.

Chromium is driven over its DevTools protocol with ``websocket-client`` (one
small pure-Python package, no browser download of its own). Debian's
``chromium`` package is installed by ``scripts/ensure-chromium`` where it is
missing; where it cannot be installed the tests skip and say why.

Screenshots are saved to ``reports/`` (``report-scoreboard.png`` and
``report-failure.png``) for a person to look at.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import websocket

from conformance.grading import loading, results
from conformance.base.conventions import VERDICTS
from conformance.reporting.framework_scoreboard import render_scoreboard
from conformance.reporting.report import render_html
# The grading helpers are shared with test_report.py.
from tests.what_users_read.test_report import HOSTILE, build, grade_records, hostile_results

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"

pytestmark = [pytest.mark.xdist_group("browser"), pytest.mark.slow]  # one install, one browser at a time


def find_chromium() -> str:
    """The browser's path, installing Debian's chromium first if it is missing."""
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    script = ROOT / "scripts" / "ensure-chromium"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900)
    path = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not path:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no reason given"
        pytest.skip(f"Chromium is not installed and could not be installed ({reason}); "
                    f"run scripts/ensure-chromium as root, or set CHROMIUM=/path/to/chromium")
    return path


class Browser:
    """Headless Chromium with one page, spoken to over the DevTools protocol."""

    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
             "--remote-debugging-port=0"]

    def __init__(self, executable: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="report-browser-")
        self.process = subprocess.Popen(
            [executable, *self.FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"chromium did not start (exit code {self.process.poll()})")
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=60,
                                              suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=True)

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = False) -> dict[str, Any]:
        message: dict[str, Any] = {"id": next(self.ids), "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        while time.monotonic() < deadline:
            for event in self.events[seen:]:
                if event["method"] == method:
                    return event
            seen = len(self.events)
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                reply = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                break
            if "method" in reply:
                self.events.append(reply)
        raise TimeoutError(f"no {method} within {timeout} s")

    def open(self, path: Path, width: int = 1680, height: int = 1050) -> None:
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=True)
        self.events.clear()
        self.send("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
        self.wait_for("Page.loadEventFired")
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} raised {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, clip: dict[str, float] | None = None) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if clip is not None:
            params.update(clip=dict(clip, scale=1), captureBeyondViewport=True)
        data = self.send("Page.captureScreenshot", params, session=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def problems(self, page_url: str) -> list[str]:
        """Console errors, uncaught exceptions, dialogs and any request but the page itself."""
        found = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"uncaught exception: {params.get('exceptionDetails')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(f"log error: {params['entry'].get('text')} ({params['entry'].get('url', '')})")
            elif method == "Network.requestWillBeSent" and params.get("request", {}).get("url") != page_url:
                found.append(f"network request: {params['request'].get('url')}")
            elif method == "Network.loadingFailed":
                found.append(f"failed load: {params.get('errorText')} {params.get('blockedReason', '')}")
            elif method == "Page.javascriptDialogOpening":
                found.append(f"dialog opened: {params.get('message')!r}")
        return found

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            shutil.rmtree(self.profile, ignore_errors=True)


#: Elements that stick out of the cell or box that holds them: every badge, score and check
#: cell must lie inside its table cell (or its parent box), and a scoreboard name cell must
#: not scroll (sticky, it would cover the check cells beside it).
OVERFLOW_JS = r"""(() => {
  const out = [];
  const describe = el => el.tagName.toLowerCase() + (el.className && typeof el.className === 'string'
    ? '.' + el.className.trim().split(/\s+/).join('.') : '') + ' "' + (el.textContent || '').trim().slice(0, 60) + '"';
  for (const el of document.querySelectorAll('.badge, .score, .cell, td.impl a, td.impl .line')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;  // not rendered (a closed <details>)
    const box = (el.closest('td, th') || el.parentElement).getBoundingClientRect();
    const spill = Math.max(r.right - box.right, box.left - r.left, r.bottom - box.bottom, box.top - r.top);
    if (spill > 0.5) out.push(describe(el) + ' sticks out of its box by ' + spill.toFixed(1) + ' px');
  }
  for (const td of document.querySelectorAll('#scoreboard-table td.impl')) {
    if (td.scrollWidth > td.clientWidth + 1)
      out.push(describe(td) + ' scrolls: ' + td.scrollWidth + ' px of content in ' + td.clientWidth + ' px');
  }
  return out;
})()"""

#: Text whose contrast with what is behind it is below WCAG 2.1 AA (4.5:1, 3:1 for large
#: text): the colour and the background are read from the page's computed styles, the
#: background composited from the element's ancestors (every colour of a gradient tried).
CONTRAST_JS = r"""(() => {
  const parse = c => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  const luminance = c => {
    const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => { const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  // Backgrounds behind an element, innermost first, until an opaque one: each a list of
  // candidate colours (a gradient gives several).
  const backgrounds = el => {
    const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const style = getComputedStyle(e);
      const image = style.backgroundImage;
      if (image && image !== 'none') {
        const colours = (image.match(/rgba?\([^)]+\)/g) || []).map(parse);
        if (colours.length) { layers.push(colours); if (colours.every(c => c[3] === 1)) break; }
      }
      const colour = parse(style.backgroundColor);
      if (colour && colour[3] > 0) { layers.push([colour]); if (colour[3] === 1) break; }
    }
    let candidates = [[255, 255, 255, 1]];
    for (const layer of layers.reverse()) candidates = layer.flatMap(top => candidates.map(bottom => over(top, bottom)));
    return candidates;
  };
  const out = [];
  const seen = new Set();
  const judge = (el, style, text, svgText) => {
    const colour = parse(svgText ? style.fill : style.color);
    if (!colour) return;
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
    const worst = Math.min(...backgrounds(el).map(bg => ratio(over(colour, bg), bg)));
    if (worst >= needed) return;
    const what = el.tagName.toLowerCase() + (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\s+/).join('.') : '');
    const key = what + text.slice(0, 20) + worst.toFixed(2);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(what + ' "' + text.slice(0, 50) + '": contrast ' + worst.toFixed(2) + ':1, needs ' + needed + ':1 (' + (svgText ? style.fill : style.color) + ')');
  };
  for (const el of document.querySelectorAll('body *')) {
    if (['SCRIPT', 'STYLE'].includes(el.tagName)) continue;
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    if ([...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
      judge(el, style, el.textContent.trim(), el instanceof SVGElement);
    for (const pseudo of ['::before', '::after']) {  // generated text (sort arrows) is text too
      const generated = getComputedStyle(el, pseudo);
      const content = generated.content;
      if (content && !['none', 'normal', '""'].includes(content) && content.replace(/["'\s]/g, ''))
        judge(el, generated, pseudo + ' ' + content, false);
    }
  }
  return out;
})()"""


# Session scope: a module-scoped fixture is rebuilt whenever a worker runs another module's test in between.
@pytest.fixture(scope="session")
def browser():
    instance = Browser(find_chromium())
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def registered_report(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """Every registered implementation graded in-process (few examples, no shrinking:
    the page is what is tested here) and rendered like ``python -m conformance report``."""
    out = tmp_path_factory.mktemp("graded")
    data = build(grade_records([entry.id for entry in loading.registry()], max_examples=5, shrink=False))
    saved = results.write_results(data, out / "results.json")
    return render_html(results.read_results(saved), out / "index.html"), data


def test_registered_report_is_small_and_complete(registered_report: tuple[Path, dict[str, Any]]) -> None:
    html, data = registered_report
    size = html.stat().st_size
    assert size < 2_000_000, f"got {size} bytes for {len(data['implementations'])} implementations, but should be under 2 MB"
    ids = [entry.id for entry in loading.registry()]
    assert [impl["id"] for impl in data["implementations"]] == ids
    page = html.read_text()
    missing = [i for i in ids if f'data-impl="{i}"' not in page]
    assert not missing, f"got no scoreboard row for {missing}, but every registered implementation needs one"


def test_scoreboard_in_browser(browser: Browser, registered_report: tuple[Path, dict[str, Any]]) -> None:
    html, data = registered_report
    browser.open(html)
    rows = browser.evaluate("[...document.querySelectorAll('#scoreboard-table tbody tr')]"
                            ".map(r => r.getAttribute('data-impl'))")
    want = [impl["id"] for impl in data["implementations"]]
    assert rows == want, f"got scoreboard rows {rows}, but should be one per implementation {want} [{html}]"
    verdicts = browser.evaluate("[...document.querySelectorAll('#scoreboard-table tbody td.impl')]"
                                ".map(td => td.getAttribute('data-verdict'))")
    assert verdicts == [impl["verdict"] for impl in data["implementations"]], (
        f"got verdicts {verdicts}, but should be the results' verdicts [{html}]")
    problems = browser.problems(html.resolve().as_uri())
    assert not problems, f"got {problems}, but should be no console error and no request [{html}]"
    shot = browser.screenshot(REPORTS / "report-scoreboard.png")
    assert shot.stat().st_size > 10_000, f"got a {shot.stat().st_size}-byte screenshot, but should show the page"

    # The failing document implementation: its explanation, snippet and plot are on screen.
    box = browser.evaluate(
        "(() => { document.querySelector('nav.toc').style.position = 'static';"
        " const s = document.querySelector('section.impl.v-fail');"
        " s.scrollIntoView(); const r = s.getBoundingClientRect();"
        " return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: Math.min(r.height, 2400),"
        " id: s.querySelector('h3').innerText, snippet: !!s.querySelector('pre.snippet'),"
        " plot: !!s.querySelector('svg.plot')}; })()")
    assert box["snippet"] and box["plot"], f"got {box}, but the failing section should have a snippet and a plot"
    browser.screenshot(REPORTS / "report-failure.png",
                       {k: box[k] for k in ("x", "y", "width", "height")})


def test_sorting_works_under_the_page_policy(browser: Browser, registered_report: tuple[Path, dict[str, Any]]) -> None:
    """The page's only script (allowed by hash in its Content-Security-Policy) sorts the scoreboard."""
    html, data = registered_report
    browser.open(html)
    score = "[...document.querySelectorAll('#scoreboard-table tbody td.impl')].map(td => Number(td.getAttribute('data-sort-score')))"
    button = "document.querySelector('#scoreboard-table button[data-key=\"score\"]').click()"
    browser.evaluate(button)
    scores = browser.evaluate(score)
    assert scores == sorted(scores), f"got scores {scores} after sorting by score, but should be ascending"
    browser.evaluate(button)
    scores = browser.evaluate(score)
    assert scores == sorted(scores, reverse=True), f"got scores {scores} after a second click, but should be descending"
    assert len(scores) == len(data["implementations"]), "sorting lost rows"
    problems = browser.problems(html.resolve().as_uri())
    assert not problems, f"got {problems}, but should be no console error and no request [{html}]"


def test_hostile_adapter_text_stays_text(browser: Browser, tmp_path: Path) -> None:
    """An adapter named like a script tag shows as text: no dialog, no injected element."""
    html = render_html(hostile_results(tmp_path), tmp_path / "hostile.html")
    browser.open(html)
    problems = browser.problems(html.resolve().as_uri())
    assert not problems, f"got {problems}, but should be none: adapter text must not run [{html}]"
    scripts = browser.evaluate("document.querySelectorAll('script').length")
    assert scripts == 1, f"got {scripts} script elements, but should be 1 (the report's own) [{html}]"
    shown = browser.evaluate("document.querySelector('#scoreboard-table tbody td.impl a').textContent")
    assert HOSTILE in shown, f"got {shown!r}, but the hostile id should show as text [{html}]"


@pytest.fixture(scope="session")
def longest_names(registered_report: tuple[Path, dict[str, Any]], tmp_path_factory) -> tuple[Path, Path]:
    """The registered report with a row for every verdict under the longest ids there are
    (the framework lanes'), each with the largest score, as the HTML report and as the
    frameworks scoreboard."""
    _, data = registered_report
    data = copy.deepcopy(data)
    ids = sorted((entry.id for entry in loading.framework_registry()), key=len, reverse=True)
    template = max(data["implementations"], key=lambda impl: len(impl.get("claimed_variant", "")))
    total = len(data["checks"])
    rows = []
    for n, verdict in enumerate(VERDICTS.values()):
        record = copy.deepcopy(template)
        record.update(id=ids[n % len(ids)] + ("" if n < len(ids) else f"-{n}"), verdict=verdict.id,
                      verdict_text=verdict.text, score={"passed": total, "applicable": total, "warnings": 0})
        rows.append(record)
    data["implementations"] += rows
    out = tmp_path_factory.mktemp("longest")
    report = render_html(data, out / "index.html")
    data["lanes"] = [{"name": "longest", "ids": [r["id"] for r in rows], "status": "graded"}]
    data["implementations"] = rows
    return report, render_scoreboard(data, out / "frameworks.html")


@pytest.mark.parametrize("width", [1280, 1920])
def test_every_text_is_readable_and_no_badge_overflows(browser: Browser, longest_names: tuple[Path, Path],
                                                       width: int) -> None:
    """At common widths, with the longest ids and verdict names: every badge, score and cell
    lies inside its cell (the pinned name column covers nothing), and every text, generated
    text included, meets WCAG AA contrast (4.5:1; 3:1 for large text), measured in the page."""
    report, scoreboard = longest_names
    browser.open(report, width=width, height=1000)
    shown = set(browser.evaluate("[...document.querySelectorAll('#scoreboard-table td.impl .badge')]"
                                 ".map(b => b.textContent.trim())"))
    missing = {v.short for v in VERDICTS.values()} - shown
    assert not missing, f"got no scoreboard badge for {missing}, but the page should show every verdict [{report}]"
    overflow = browser.evaluate(OVERFLOW_JS)
    assert not overflow, f"got {overflow} at {width} px, but nothing should stick out of its cell [{report}]"
    low = browser.evaluate(CONTRAST_JS)
    assert not low, f"got {low} at {width} px, but every text should meet WCAG AA contrast [{report}]"
    browser.open(scoreboard, width=width, height=1000)
    low = browser.evaluate(CONTRAST_JS)
    assert not low, f"got {low} at {width} px, but every text should meet WCAG AA contrast [{scoreboard}]"
