"""Small Sphinx fixes the book needs (registered in _config.yml under sphinx.local_extensions)."""


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    """(Runs early: html-page-context stops at the first handler that returns a template.)
    Sphinx 7.4 registers sphinx-thebe/togglebutton inline scripts twice, which throws
    "Identifier ... has already been declared" in the browser: keep the first of each."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (str(getattr(script, "filename", script) or ""), attributes.get("body", ""))  # None and "" alike
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: later handlers (mathjax, myst-nb widgets) append to this same list


def setup(app):
    # MathJax on every page: Sphinx misses math inside some directives (e.g. glossary definitions)
    app.set_html_assets_policy("always")
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
