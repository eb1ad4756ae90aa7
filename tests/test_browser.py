"""The built book in a real browser (Debian chromium driven by playwright), offline, page by page.

For every page of the table of contents: it loads; no request leaves 127.0.0.1; no console errors; math is
rendered by MathJax; every image loads; widgets render; precomputed animations respond to their slider; download
and launch buttons exist; the dark-mode toggle works; no code block scrolls sideways at 1,280 px; nothing
overflows a 390 px wide phone screen. A screenshot of
each page is saved under artifacts/screenshots/.
"""
import functools
import http.server
import os
import re
import shutil
import threading

import pytest

from tests.conftest import REPO_ROOT, toc_pages

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed")]


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


class PageVisit:
    """A page opened in a fresh context, with every request, failure and console error recorded."""

    def __init__(self, browser, url, viewport=None):
        self.context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.requests, self.failures, self.errors = [], [], []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("requestfailed", lambda r: self.failures.append(f"{r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self.failures.append(f"{r.url} (HTTP {r.status})"))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url, wait_until="networkidle")
        self.page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        self.page.wait_for_load_state("networkidle")

    def close(self):
        self.context.close()


@pytest.fixture(scope="module", params=toc_pages(), ids=lambda p: p)
def visit(request, browser, server):
    page = request.param
    visit = PageVisit(browser, f"{server}/{page}.html")
    visit.name = page
    yield visit
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    visit.page.screenshot(path=str(SCREENSHOTS / f"{page.replace('/', '_')}.png"), full_page=False)
    visit.close()


def test_page_loads_offline_without_errors(visit, server):
    assert visit.page.title(), "page has no title"
    external = [u for u in visit.requests if not u.startswith(server) and not u.startswith(("data:", "blob:"))]
    assert not external, f"requests leaving 127.0.0.1: {external}"
    assert not visit.failures, f"failed requests: {visit.failures}"
    assert not visit.errors, f"console errors: {visit.errors}"


def test_math_is_rendered(visit):
    has_math = visit.page.locator(".math").count() > 0
    if has_math:
        assert visit.page.locator("mjx-container").count() > 0, "page has math but MathJax rendered none"
        assert visit.page.locator("mjx-merror").count() == 0, "MathJax reported a TeX error"


def test_every_image_loads(visit):
    visit.page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    visit.page.wait_for_load_state("networkidle")
    broken = visit.page.evaluate(
        "() => Array.from(document.images).filter(i => i.offsetParent !== null && (!i.complete || "
        "i.naturalWidth === 0)).map(i => i.src.slice(0, 80))")
    assert not broken, f"images that did not load: {broken}"


def test_widgets_render_where_the_page_has_them(visit):
    has_state = visit.page.locator('script[type="application/vnd.jupyter.widget-state+json"]').count() > 0
    if has_state:
        visit.page.wait_for_selector(".jupyter-widgets, .widget-slider, .widget-label", timeout=15000)
        assert visit.page.locator(".jupyter-widgets").count() > 0


def test_static_animations_respond_to_their_slider(visit):
    sliders = visit.page.locator("input.anim-slider, .animation input[type=range]")
    for i in range(sliders.count()):
        slider = sliders.nth(i)
        image = visit.page.locator(".animation img").nth(i)
        before = image.get_attribute("src")
        slider.evaluate("(s) => { s.value = s.max; s.dispatchEvent(new Event('input')); "
                        "s.dispatchEvent(new Event('change')); }")
        visit.page.wait_for_timeout(300)
        assert image.get_attribute("src") != before, f"animation {i} did not change frame when its slider moved"


def test_download_and_launch_buttons(visit):
    assert visit.page.locator(".dropdown-download-buttons").count() > 0, "no download button"
    if visit.name not in ("book/glossary", "book/references"):
        assert visit.page.locator(".dropdown-launch-buttons").count() > 0 or "intro" in visit.name


def test_dark_mode_toggle(visit):
    html = visit.page.locator("html")
    visit.page.locator(".theme-switch-button").first.click()
    visit.page.wait_for_timeout(200)
    first = html.get_attribute("data-theme")
    visit.page.locator(".theme-switch-button").first.click()
    visit.page.wait_for_timeout(200)
    second = html.get_attribute("data-theme")
    assert {first, second} == {"light", "dark"}, (first, second)


# Every code block of the page, hidden ones (collapsed cells, toggles) opened first; those that scroll sideways.
WIDE_CODE_BLOCKS = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
  const blocks = Array.from(document.querySelectorAll('article pre'));
  return blocks.flatMap(pre => [pre, pre.parentElement])
    .filter(e => e.scrollWidth > e.clientWidth + 1)
    .map(e => `${e.scrollWidth} > ${e.clientWidth} px: ${e.textContent.trim().split('\\n')[0].slice(0, 60)}`);
}"""


def test_no_code_block_scrolls_sideways_on_a_desktop(visit):
    """At 1,280 px every code block (cells, their outputs, included course code) fits its box: the source is
    wrapped at 88 columns (tests/test_book.py) and the course CSS sizes code so that 88 columns fit."""
    assert visit.page.viewport_size["width"] == 1280
    assert visit.page.locator("article pre").count() > 0 or visit.name in ("book/glossary", "book/references",
                                                                             "book/intro")
    wide = visit.page.evaluate(WIDE_CODE_BLOCKS)
    assert not wide, f"{len(wide)} code blocks scroll sideways at 1,280 px: {wide[:5]}"


def test_wide_code_check_sees_a_wide_block(browser, server):
    # the measurement above must notice a block that scrolls (a 200-column line on the attention page)
    visit = PageVisit(browser, f"{server}/book/attention.html")
    visit.page.evaluate("() => { document.querySelector('article pre').textContent = 'x'.repeat(200); }")
    wide = visit.page.evaluate(WIDE_CODE_BLOCKS)
    visit.close()
    assert wide and wide[0].endswith("x" * 60), wide


def test_no_horizontal_overflow_on_a_phone(browser, server):
    offenders = {}
    for page in toc_pages():
        visit = PageVisit(browser, f"{server}/{page}.html", viewport={"width": 390, "height": 844})
        width = visit.page.evaluate("() => document.documentElement.scrollWidth")
        if width > 390:
            offenders[page] = width
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        visit.page.screenshot(path=str(SCREENSHOTS / f"mobile_{page.replace('/', '_')}.png"))
        visit.close()
    assert not offenders, f"pages wider than a 390 px screen: {offenders}"


def test_search_finds_attention(browser, server):
    visit = PageVisit(browser, f"{server}/search.html?q=attention")
    visit.page.wait_for_selector("#search-results li", timeout=20000)
    results = visit.page.locator("#search-results li").all_inner_texts()
    visit.close()
    assert any(re.search("attention", r, re.I) for r in results), results
