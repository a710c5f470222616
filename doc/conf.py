"""Sphinx configuration: numpydoc API reference from the docstrings, a sphinx-gallery of examples."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
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
exclude_patterns = ["_build"]
intersphinx_mapping = {}
html_theme = "alabaster"
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "ignore_pattern": r"demo\.py",
    "download_all_examples": False,
    "abort_on_example_error": True,
}
suppress_warnings = ["myst.header"]
