"""The book builds with every cell executed, warnings as errors, and the built site loads nothing from the internet.
Every chapter page cites its papers, links the glossary, captions its figures and warns of common misconceptions."""
import html as html_lib
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import PurePosixPath

import pytest
import yaml
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
        <figcaption><span class="caption-number">Fig. 2 </span><a class="headerlink" href="#x">#</a>
        </figcaption></figure>
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


# ---- content: the concepts and numbers issue 15 asked for, and slips that must not come back ---------------------

CODE_CELL = re.compile(r"^```\{code-cell\}.*?^```$", re.M | re.S)
GLUE_ROLE = re.compile(r"\{glue:text\}`([^`:]+)(?::[^`]*)?`")


def prose(markdown: str) -> str:
    """A chapter's text without its code cells (what a reader reads, before the cells' output is pasted in)."""
    return CODE_CELL.sub("", markdown)


def chapter_source(topic: str) -> str:
    return (REPO_ROOT / "book" / f"{topic}.md").read_text()


def timm_model_numbers() -> dict[str, str]:
    """The values the ViT and Swin chapters must show, computed here from timm's registry on the meta device
    (no download), independently of the chapters' cells: glue key -> text."""
    import timm
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    def build(name, **kwargs):
        with torch.device("meta"):
            return timm.create_model(name, pretrained=False, **kwargs)

    def params(model):
        return sum(p.numel() for p in model.parameters())

    numbers = {}
    for size, name in [("B", "vit_base_patch16_224"), ("L", "vit_large_patch16_224"), ("H", "vit_huge_patch14_224")]:
        numbers[f"vit_{size}_params"] = f"{params(build(name, num_classes=1000)) / 1e6:.1f}"
    for size, name in [("T", "tiny"), ("S", "small"), ("B", "base"), ("L", "large")]:
        model = build(f"swin_{name}_patch4_window7_224")
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(1, 3, 224, 224, device="meta"))
        numbers[f"swin_{size}_params"] = f"{params(model) / 1e6:.0f}"
        numbers[f"swin_{size}_gmacs"] = f"{counter.get_total_flops() / 2e9:.1f}"
    return numbers


# what each topic must teach (issue 15, item 1): phrases of its prose, checked in the Markdown source
REQUIRED_PROSE = {
    "vit": ["**The hybrid.**", "patches\" of $1 \\times 1$", "MLP with one hidden layer",
            "zero-initialised $D \\times K$", "**masked patch prediction**", "rotation prediction",
            "Fine-tuning at a higher resolution", "original ViT code interpolates linearly"],
    "swin": ["Swin-T, S, B and L", "divides the number of tokens by 4", "doubles the channels", "COCO", "ADE20K",
             "ImageNet-1K"],
    "attention": ["Why attention replaced recurrence", "sequential operations", "maximum path length",
                  "$O(n^2 \\cdot d)$", "$O(n \\cdot d^2)$", "$O(k \\cdot n \\cdot d^2)$", "$O(r \\cdot n \\cdot d)$",
                  "$O(\\log_k n)$", "$O(n/r)$"],
    "encoder_decoder": ["LayerNorm, defined", "(eq-ed-layernorm)", "\\gamma", "\\beta", "\\sigma^2", "\\mu",
                        "{term}`BatchNorm`"],
}

# slips fixed for issue 15 (item 2): wording that must not return
FORBIDDEN_PROSE = {
    "tnt": ["sees less of the patch"],
    "encoder_decoder": ["up to 10 words", "(33 words)"],
    "positional_encoding": ["barely turned", "131060", "resized by bicubic interpolation"],
    "masking": ["131060", "pull request"],
    "intro": ["but not the encoder/decoder chapter"],
}


@pytest.mark.parametrize("topic", sorted(REQUIRED_PROSE))
def test_chapter_teaches_the_required_concepts(topic):
    text = " ".join(prose(chapter_source(topic)).split())   # line breaks do not hide a phrase
    missing = [phrase for phrase in REQUIRED_PROSE[topic] if phrase not in text]
    assert not missing, f"book/{topic}.md no longer says: {missing}"


@pytest.mark.parametrize("topic", sorted(FORBIDDEN_PROSE))
def test_fixed_slips_stay_fixed(topic):
    text = " ".join(chapter_source(topic).split())   # line breaks do not hide a phrase
    back = [phrase for phrase in FORBIDDEN_PROSE[topic] if phrase in text]
    assert not back, f"book/{topic}.md says again: {back}"


def test_model_size_numbers_in_the_prose_come_from_cells():
    # the ViT-B/L/H and Swin-T/S/B/L numbers are pasted from the cells ({glue:text}), never typed into the prose
    numbers = timm_model_numbers()
    for topic in ("vit", "swin"):
        text = prose(chapter_source(topic))
        keys = [key for key in numbers if key.startswith(topic)]
        not_pasted = set(keys) - set(GLUE_ROLE.findall(text))
        assert not not_pasted, f"{topic}: not pasted from a cell: {not_pasted}"
        typed = [numbers[key] for key in keys
                 if "." in numbers[key] and re.search(rf"(?<![\d.]){re.escape(numbers[key])}(?!\d)", text)]
        assert not typed, f"{topic}: numbers typed into the prose instead of pasted from a cell: {typed}"


def test_glossary_defines_layernorm_and_batchnorm():
    glossary = (REPO_ROOT / f"{GLOSSARY_PAGE}.md").read_text()
    terms = dict(re.findall(r"^(\S[^\n]*)\n((?:  [^\n]*\n)+)", glossary, re.M))
    assert {"LayerNorm", "BatchNorm", "maximum path length"} <= set(terms), sorted(terms)
    for symbol in ("\\mu", "\\sigma^2", "\\gamma", "\\beta"):
        assert symbol in terms["LayerNorm"], f"the LayerNorm entry does not define {symbol}"
    assert "batch" in terms["BatchNorm"]


@pytest.mark.slow
def test_model_size_numbers_reach_the_page(site):
    # the numbers the built pages show are the ones timm's models give, pasted where the prose asks for them
    numbers = timm_model_numbers()
    for topic in ("vit", "swin"):
        article = article_of((site / "book" / f"{topic}.html").read_text())
        pasted = [span.get_text() for span in article.select("span.pasted-text")]
        text = prose(chapter_source(topic))
        for key in (k for k in numbers if k.startswith(topic)):
            occurrences = len(re.findall(rf"\{{glue:text\}}`{key}(?::[^`]*)?`", text))
            assert pasted.count(numbers[key]) >= occurrences > 0, (topic, key, numbers[key], pasted)
    glossary = article_of((site / f"{GLOSSARY_PAGE}.html").read_text())
    assert glossary.find(id="term-LayerNorm") is not None


def test_content_checks_see_what_they_claim():
    markdown = "Text {glue:text}`a_key` and {glue:text}`b:.1f`.\n```{code-cell} ipython3\nx = 86.6\n```\nEnd 3.5"
    assert prose(markdown) == "Text {glue:text}`a_key` and {glue:text}`b:.1f`.\n\nEnd 3.5"
    assert GLUE_ROLE.findall(markdown) == ["a_key", "b"]
    html = '<article><p>ViT-B has <span class="pasted-text">86.6</span> M</p></article>'
    assert [s.get_text() for s in article_of(html).select("span.pasted-text")] == ["86.6"]


# ---- code fits the page: 88 columns --------------------------------------------------------------------------------

CODE_COLUMNS = 88   # at the course CSS's code size, 88 columns fit the article at 1,280 px (tests/test_browser.py)
FENCE = re.compile(r"^(```+)(\{[\w-]+\}|\w*)[^\n]*\n((?:---\n.*?\n---\n|(?::[\w-]+:[^\n]*\n)+)?)(.*?)^\1$",
                   re.S | re.M)


def wide_code_lines(markdown: str) -> list[str]:
    """Lines over CODE_COLUMNS in the page's code: code cells (except those removed from the page) and fenced
    code blocks. Directives ({admonition}, {figure}, {literalinclude}, ...) are not code."""
    wide = []
    for match in FENCE.finditer(markdown):
        kind, options, body = match[2], match[3], match[4]
        if (kind == "{code-cell}" and "remove-cell" not in options) or not kind.startswith("{"):
            wide += [line for line in body.split("\n") if len(line) > CODE_COLUMNS]
    return wide


def test_code_shown_in_the_book_fits_88_columns():
    wide = {}
    for page in toc_pages():
        wide.update({f"{page}.md: {line[:70]}": len(line) for line in wide_code_lines(
            (REPO_ROOT / f"{page}.md").read_text())})
    for module in sorted((REPO_ROOT / "coursetools").glob("*.py")):   # shown with literalinclude
        wide.update({f"coursetools/{module.name}: {line[:70]}": len(line)
                     for line in module.read_text().split("\n") if len(line) > CODE_COLUMNS})
    assert not wide, f"{len(wide)} lines over {CODE_COLUMNS} columns: {list(wide.items())[:10]}"


def test_wide_code_check_sees_cells_and_blocks_not_prose():
    long = "x = " + "1" * CODE_COLUMNS
    page = (f"{long} prose\n\n```{{code-cell}} ipython3\n---\ntags: [hide-input]\n---\n{long}\n```\n\n"
            f"```{{code-cell}} ipython3\n:tags: [remove-cell]\n{long}\n```\n\n```python\nshort\n{long}\n```\n\n"
            f"```{{admonition}} Title\n{long}\n```\n")
    assert wide_code_lines(page) == [long, long]


def test_authors_rebuild_from_the_cache_and_full_runs_execute_everything():
    """Prose edits re-execute nothing (jupyter-cache matches a page by its code); scripts/main.sh clears that cache
    before its build and the tests build into a fresh folder, so there every cell runs (benchmarks/run.py times
    both)."""
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "cache"
    assert not config["execute"].get("cache"), "the cache must live in the build folder (_build/.jupyter_cache)"
    main = (REPO_ROOT / "scripts" / "main.sh").read_text()
    clear, build = main.find("rm -rf _build/.jupyter_cache"), main.find("jupyter-book build")
    assert 0 <= clear < build, "scripts/main.sh must clear the execution cache before it builds"
