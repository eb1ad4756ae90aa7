"""Small Sphinx fixes the book needs (registered in _config.yml under sphinx.local_extensions)."""


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    """Sphinx 7.4 registers sphinx-thebe/togglebutton inline scripts twice, which throws
    "Identifier ... has already been declared" in the browser: keep the first of each."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (str(script), getattr(script, "attributes", {}).get("body", ""))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
