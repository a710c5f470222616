"""Sphinx configuration: numpydoc API reference from the docstrings, a sphinx-gallery of examples."""

import importlib.util
import os
import re
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("."))  # _gallery_order
import sklearn_lrnn  # noqa: E402

project = "sklearn_lrnn"
author = "sklearn_lrnn developers"
release = version = sklearn_lrnn.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_default_options = {"members": True, "inherited-members": False}
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_intersphinx"]
# Links to the documentation of the libraries the API uses. Each project lists a second, local
# inventory (empty) that Sphinx falls back to when the website cannot be reached: an offline build
# then only logs the failed download (no warning, so `-W` still passes) and leaves those names as
# plain text instead of links.
_NO_INVENTORY = "_intersphinx/empty.inv"
intersphinx_mapping = {
    name: (url, (None, _NO_INVENTORY))
    for name, url in {
        "python": "https://docs.python.org/3/",
        "sklearn": "https://scikit-learn.org/stable/",
        "numpy": "https://numpy.org/doc/stable/",
        "scipy": "https://docs.scipy.org/doc/scipy/",
        "torch": "https://docs.pytorch.org/docs/stable/",
    }.items()
}
intersphinx_timeout = 10  # seconds per inventory; offline machines fail fast and fall back

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn_lrnn {release}"
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"index": [], "theory": [], "benchmarks": []}
# Examples that need an optional extra are left out of a build without it (the docs extra installs them).
_IGNORE = [r"demo\.py"] + ([r"plot_nwb_spikes\.py"] if importlib.util.find_spec("pynwb") is None else [])
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "ignore_pattern": "|".join(_IGNORE),
    "within_subsection_order": "_gallery_order.GalleryOrder",
    "download_all_examples": False,
    "abort_on_example_error": True,
}
suppress_warnings = ["myst.header"]


# The set_{fit,transform,score}_request methods come from scikit-learn, and their docstrings link into
# scikit-learn's own documentation (":term:`meta-estimator`", ":ref:`User Guide <metadata_routing>`"),
# targets that do not exist here. Point them at the scikit-learn website instead.
_SKLEARN_DOCS = "https://scikit-learn.org/stable/"
_SKLEARN_REFS = {"metadata_routing": "metadata_routing.html"}


def _sklearn_docstring_links(app, what, name, obj, options, lines):
    if not getattr(obj, "__module__", "").startswith("sklearn."):
        return
    for i, line in enumerate(lines):
        line = re.sub(r":term:`([^`<]+)`", r"\1", line)
        line = re.sub(r":ref:`([^`<]+?) <([^`>]+)>`",
                      lambda m: (f"`{m.group(1)} <{_SKLEARN_DOCS}{_SKLEARN_REFS[m.group(2)]}>`__"
                                 if m.group(2) in _SKLEARN_REFS else m.group(1)), line)
        lines[i] = line


def setup(app):
    app.connect("autodoc-process-docstring", _sklearn_docstring_links)
