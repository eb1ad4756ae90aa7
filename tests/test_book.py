"""The book builds with every cell executed, warnings as errors, and the built site loads nothing from the internet."""
import re
from html.parser import HTMLParser

import pytest

from autograder import cli
from tests.conftest import chapter_pages, toc_pages


class ResourceCollector(HTMLParser):
    """Every URL a browser would fetch when rendering the page (not links a reader may click)."""

    def __init__(self):
        super().__init__()
        self.fetched: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe", "audio", "video", "source") and attrs.get("src"):
            self.fetched.append(attrs["src"])
        if tag == "link" and attrs.get("href") and set((attrs.get("rel") or "").split()) & {
                "stylesheet", "preload", "icon", "modulepreload", "prefetch", "preconnect"}:
            self.fetched.append(attrs["href"])


def fetched_urls(html: str) -> list[str]:
    collector = ResourceCollector()
    collector.feed(html)
    return collector.fetched


@pytest.mark.slow
def test_every_toc_page_is_built(site):
    for page in toc_pages():
        assert (site / f"{page}.html").exists(), page


@pytest.mark.slow
def test_site_fetches_nothing_from_the_internet(site):
    for page in site.rglob("*.html"):
        if "_static" in page.parts:
            continue  # template fragments, not pages
        html = page.read_text()
        external = [u for u in fetched_urls(html) if re.match(r"^(https?:)?//", u)]
        assert not external, f"{page.relative_to(site)} loads {external}"
        assert "cdn.jsdelivr" not in html and "cdnjs.cloudflare" not in html, page
        for url in fetched_urls(html):
            local = (page.parent / url.split("?")[0].split("#")[0]).resolve()
            if not url.startswith("data:"):
                assert local.exists(), f"{page.relative_to(site)} references missing {url}"


@pytest.mark.slow
@pytest.mark.parametrize("page", chapter_pages())
def test_chapter_has_math_figures_widgets_and_downloads(site, page):
    html = (site / f"{page}.html").read_text()
    assert "_static/mathjax/tex-mml-chtml.js" in html
    assert re.search(r'class="math[ "]', html), "no math on the page"
    assert "<img" in html, "no executed figure on the page"
    assert f'href="../_sources/{page}.ipynb"' in html, "no .ipynb download button"
    assert "mybinder.org" in html, "no launch button"
    topic = page.split("/")[-1]
    assert re.search(rf'href="[^"]*_downloads/[0-9a-f]+/{topic}\.ipynb"', html), "chapter does not link its exercise"


def test_every_exercise_has_a_chapter_in_the_toc():
    assert sorted(p.split("/")[-1] for p in chapter_pages()) == cli.topics()


@pytest.mark.slow
def test_widgets_are_embedded_with_local_javascript(site):
    html = (site / "book" / "attention.html").read_text()
    assert "application/vnd.jupyter.widget-state+json" in html
    for js in ("require.js", "course-widgets.js", "widgets/embed-amd.js"):
        assert f'src="../_static/{js}' in html, js
    assert (site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_fetched_urls_finds_external_scripts():
    # the collector the offline test relies on must see what a browser would fetch
    html = '<script src="https://cdn.example/x.js"></script><link rel="stylesheet" href="//a/b.css"><a href="https://x">'
    assert fetched_urls(html) == ["https://cdn.example/x.js", "//a/b.css"]
