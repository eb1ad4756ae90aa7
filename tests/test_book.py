"""The book builds with every cell executed, warnings as errors, and the built site loads nothing from the internet.
Every chapter page cites its papers, links the glossary, captions its figures and warns of common misconceptions."""
import html as html_lib
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import PurePosixPath

import pytest
from bs4 import BeautifulSoup
from pybtex.database import parse_file

from autograder import cli
from tests.conftest import REPO_ROOT, chapter_pages, toc_pages

REFERENCES_PAGE = "book/references"   # the one {bibliography} of the book
GLOSSARY_PAGE = "book/glossary"       # the one {glossary} of the book
MIN_CITATIONS, MIN_TERMS = 3, 5       # links per chapter page
CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


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


# ---- reading experience: citations, glossary links, figures, misconceptions ----------------------------------------

def article_of(html: str):
    """The page's article body (sphinx-book-theme: <article class="bd-article">), without navigation and logos."""
    soup = BeautifulSoup(html, "html.parser")
    return soup.find("article") or soup


def links_to(article, page: str, target_page: str, fragment_prefix: str = "") -> list[str]:
    """Fragments of the links in `article` (on site page `page`) that point into `target_page` (both toc names,
    e.g. "book/vit"), with a fragment that starts with `fragment_prefix`. Links to the page itself without a
    fragment (the sidebar's "References") do not count."""
    found = []
    for a in article.find_all("a", href=True):
        path, _, fragment = a["href"].partition("#")
        if not fragment or not fragment.startswith(fragment_prefix) or re.match(r"^[a-z]+:", path):
            continue
        resolved = PurePosixPath(page).parent.joinpath(path) if path else PurePosixPath(page + ".html")
        parts = []
        for part in resolved.parts:  # normalise "../" without touching the file system
            if part == ".." and parts:
                parts.pop()
            elif part != ".":
                parts.append(part)
        if "/".join(parts) == target_page + ".html":
            found.append(fragment)
    return found


def figure_problems(article) -> list[str]:
    """Every executed-output image (src under _images/) must sit in a <figure> with a non-empty <figcaption> and
    have real alt text: myst-nb's default alt is the image's own path, which says nothing."""
    problems = []
    for img in article.find_all("img"):
        src = img.get("src", "")
        if "_images/" not in src:
            continue  # animation frames (no src, drawn by JavaScript), inline icons
        alt = (img.get("alt") or "").strip()
        figure = img.find_parent("figure")
        caption = figure.find("figcaption") if figure else None
        words = [s for s in caption.find_all(string=True) if not s.find_parent(class_=["caption-number", "headerlink"])
                 ] if caption else []   # the caption's own words, not "Fig. 3" or the "#" permalink
        if figure is None:
            problems.append(f"{src}: not in a <figure>")
        elif not "".join(words).strip():
            problems.append(f"{src}: <figure> without a caption")
        if not alt or alt == src or re.search(r"\.(png|jpe?g|svg|gif)$", alt, re.I):
            problems.append(f"{src}: no alt text (alt={alt!r})")
    return problems


def has_misconceptions_box(article, minimum_points: int = 2) -> bool:
    for box in article.select("div.admonition"):
        title = box.find(class_="admonition-title")
        if title and title.get_text(strip=True).lower() == "common misconceptions":
            return len(box.find_all("li")) >= minimum_points
    return False


def plain(text: str) -> str:
    """Lower-case letters and digits only, LaTeX accents and HTML entities resolved: to find a BibTeX title in HTML."""
    text = re.sub(r"\\[a-zA-Z]+\s*|\\.", "", html_lib.unescape(text))
    text = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^a-z0-9]", "", text.lower())


def citation_keys(markdown: str) -> set[str]:
    """The BibTeX keys of every {cite...} role: keys separated by commas, each with optional {pre-text} and
    {post-text}, e.g. {cite:p}`key{section 2}`."""
    return {key.strip() for keys in CITE_ROLE.findall(markdown) for key in re.sub(r"\{[^{}]*\}", "", keys).split(",")}


def cited_keys(page: str) -> set[str]:
    source = REPO_ROOT / f"{page}.md"
    return citation_keys(source.read_text()) if source.exists() else set()


@pytest.mark.slow
@pytest.mark.parametrize("page", chapter_pages())
def test_chapter_cites_its_papers(site, page):
    article = article_of((site / f"{page}.html").read_text())
    citations = links_to(article, page, REFERENCES_PAGE)
    assert len(citations) >= MIN_CITATIONS, f"{len(citations)} citation links into {REFERENCES_PAGE}: use {{cite:p}}"


@pytest.mark.slow
@pytest.mark.parametrize("page", chapter_pages())
def test_chapter_links_the_glossary(site, page):
    article = article_of((site / f"{page}.html").read_text())
    terms = links_to(article, page, GLOSSARY_PAGE, fragment_prefix="term-")
    assert len(terms) >= MIN_TERMS, f"only {len(terms)} {{term}} links into {GLOSSARY_PAGE}: {sorted(set(terms))}"


def named_figures(markdown: str) -> list[str]:
    """The labels of the code cells that declare a figure (``mystnb: figure: name: ...`` in the cell's YAML)."""
    return re.findall(r"^mystnb:\n  figure:\n    name: (\S+)$", markdown, re.M)


def missing_figures(article, names: list[str]) -> list[str]:
    """The declared figures that the page does not show as a <figure> holding an executed image. A cell whose
    plot never reached the notebook (e.g. MPLBACKEND=Agg in the kernel) leaves its figure out silently."""
    missing = []
    for name in names:
        figure = article.find("figure", id=name)
        if figure is None or not any("_images/" in img.get("src", "") for img in figure.find_all("img")):
            missing.append(name)
    return missing


def test_named_figures_are_found_in_the_sources():
    assert named_figures("mystnb:\n  figure:\n    name: fig-a\n    caption: x\n") == ["fig-a"]
    assert len(named_figures((REPO_ROOT / "book" / "attention.md").read_text())) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("page", chapter_pages())
def test_chapter_figures_have_captions_and_alt_text(site, page):
    article = article_of((site / f"{page}.html").read_text())
    names = named_figures((REPO_ROOT / f"{page}.md").read_text())
    assert names, "the chapter declares no captioned figure"
    assert not missing_figures(article, names), f"declared but not on the page: {missing_figures(article, names)}"
    assert not figure_problems(article), "\n".join(figure_problems(article))


@pytest.mark.slow
@pytest.mark.parametrize("page", chapter_pages())
def test_chapter_has_a_misconceptions_box(site, page):
    article = article_of((site / f"{page}.html").read_text())
    assert has_misconceptions_box(article), "no 'Common misconceptions' admonition with at least 2 points"


@pytest.mark.slow
def test_references_page_lists_every_cited_paper(site):
    references = article_of((site / f"{REFERENCES_PAGE}.html").read_text())
    entries = {div["id"] for div in references.select("div.citation[id]")}
    listed = plain(references.get_text(" "))
    bibliography = parse_file(REPO_ROOT / "references.bib").entries
    for page in toc_pages():
        if page == REFERENCES_PAGE:
            continue
        article = article_of((site / f"{page}.html").read_text())
        dangling = set(links_to(article, page, REFERENCES_PAGE)) - entries
        assert not dangling, f"{page} cites entries the references page does not have: {dangling}"
        keys = cited_keys(page)
        assert keys <= set(bibliography), f"{page} cites keys missing from references.bib: {keys - set(bibliography)}"
        for key in keys:
            assert plain(bibliography[key].fields["title"]) in listed, f"{page}: {key} is not on the references page"


def test_reading_checks_catch_bad_markup():
    # the helpers the checks above rely on must see what they claim to see
    page = "book/ch"
    html = """<nav><a href="glossary.html">Glossary</a><img src="../_static/logo.png"></nav><article>
      <a href="references.html#id3">A, 2021</a> <a href="../book/glossary.html#term-patch">patch</a>
      <a href="glossary.html">Glossary</a> <a href="#term-local">here</a> <a href="https://x/references.html#id1">x</a>
      <figure><img alt="A line plot of loss against step, falling." src="../_images/a.png"/>
        <figcaption><p>Loss falls.<a class="headerlink" href="#fig-a">#</a></p></figcaption></figure>
      <img alt="../_images/b.png" src="../_images/b.png"/>
      <figure><img alt="" src="../_images/c.png"/>
        <figcaption><span class="caption-number">Fig. 2 </span><a class="headerlink" href="#x">#</a></figcaption></figure>
      <img id="_anim_img0"/>
      <div class="warning admonition"><p class="admonition-title">Common misconceptions</p><ul><li>a</li><li>b</li></ul>
      </div></article>"""
    article = article_of(html)
    assert links_to(article, page, "book/references") == ["id3"]
    assert links_to(article, page, "book/glossary", "term-") == ["term-patch"]
    problems = figure_problems(article)
    assert [p.split(":")[0] for p in problems] == ["../_images/b.png", "../_images/b.png", "../_images/c.png",
                                                   "../_images/c.png"], problems
    assert has_misconceptions_box(article) and not has_misconceptions_box(article_of("<article></article>"))
    roles = "{cite:p}`a{section 1},b` and {cite:t}`c` {cite:p}`{see}d{p. 2, fig. 3}`"
    assert citation_keys(roles) == {"a", "b", "c", "d"}
    assert plain(r"Data-Efficient {I}mage \& J{\'e}gou") == plain("data-efficient image &amp; Jégou")
