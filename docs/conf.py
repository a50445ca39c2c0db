"""Sphinx configuration of the skysense documentation.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (``.ci/run`` does).
Pages are MyST markdown (``.md``) or reST. The API reference is generated here from each
public module's ``__all__`` (``docs/api/generated/``, not committed); the gallery runs the
scripts of ``examples/`` (``docs/auto_examples/``, not committed).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

import skysense

project = "skysense"
author = "the skysense developers"
copyright = "the skysense developers"
version = release = skysense.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "**.zip"]
templates_path = ["_templates"]
root_doc = "index"
nitpicky = False

# -- MyST ---------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# Pages link to files of the repository (``tests/test_bad_input.py``) by relative paths that
# are not documents; those links stay plain text.
suppress_warnings: list[str] = []

# -- autodoc / autosummary / numpydoc -------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # the numpydoc Parameters section carries the types
autoclass_content = "class"
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True
# Public docstrings are validated on every build (warnings are errors in CI), so a parameter
# added to, renamed in or removed from a signature without its docstring fails the build.
numpydoc_validation_checks = {
    "GL06",  # unknown section
    "GL07",  # sections in the wrong order
    "GL08",  # no docstring
    "PR01",  # a parameter of the signature is not documented
    "PR02",  # a documented parameter is not in the signature
    "PR03",  # parameters documented in another order than the signature
    "PR06",  # "integer"/"boolean"/"string" instead of int/bool/str
    "PR07",  # a parameter without a description
    "PR10",  # "x:int" (missing space before the colon)
    "RT03",  # a Returns entry without a description
    "SS01",  # no summary
    "SS02",  # summary starts with a lower-case letter
    "YD01",  # a generator without a Yields section
}
# Result dataclasses document their fields under Attributes (they are what a caller reads),
# not as constructor parameters.
numpydoc_validation_overrides = {"PR01": [r"Attributes\n\s*-{5,}"]}
numpydoc_validation_exclude = {
    r"\._[a-z]",  # private names
    r"\.__[a-z_]+__$",  # dunder methods
    r"^skysense\.learn\..*\.(forward|extra_repr)$",  # torch.nn.Module hooks
    r"\.[A-Z][A-Z0-9_]+$",  # module constants (paper tables, scheme lists): data, not API calls
    # typing.Protocol classes: numpydoc reads Protocol's own ``__init__(*args, **kwargs)`` as
    # their signature; a protocol is never constructed, its methods carry the documentation.
    r"^skysense\.tracking\.FrameTracker$",
}

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "scipy": ("https://docs.scipy.org/doc/scipy", None),
}
# CI has no network: intersphinx inventories are only used where present (``-D`` to enable).
if os.environ.get("SKYSENSE_DOCS_INTERSPHINX") != "1":
    extensions.remove("sphinx.ext.intersphinx")

# -- sphinx-gallery --------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # every plot_*.py runs during the build
    "ignore_pattern": r"^_|^(psf_figures|c2vnn_\w+)\.py$",  # scripts, not plots
    "write_computation_times": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "min_reported_time": 1,
    "reset_modules": ("matplotlib",),
    "plot_gallery": "True",
}

# -- HTML ---------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skysense {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 5,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_show_sourcelink = False
html_copy_source = False

# -- API pages generated from __all__ --------------------------------------------------------------
#: The public modules, in the order of the API index; each page lists the module's ``__all__``.
API_MODULES = [
    "skysense",
    "skysense.imaging",
    "skysense.bistatic",
    "skysense.cordic",
    "skysense.mapping",
    "skysense.pipeline",
    "skysense.metrics",
    "skysense.comms",
    "skysense.learn",
    "skysense.scenes",
    "skysense.scenes.sionna",
    "skysense.tracking",
    "skysense.edge",
    "skysense.plotting",
    "skysense.experiments",
]


def _api_page(module_name: str) -> str:
    module = importlib.import_module(module_name)
    names = [n for n in module.__all__ if not n.startswith("__")]
    if module_name == "skysense":  # the subpackages have pages of their own
        names = [n for n in names if n not in {m.rsplit(".", 1)[-1] for m in API_MODULES}]
    title = f"``{module_name}``"
    lines = [title, "=" * len(title), "", f".. automodule:: {module_name}", "   :no-members:", ""]
    if names:
        lines += [
            f".. currentmodule:: {module_name}",
            "",
            ".. autosummary::",
            "   :toctree: .",
            "   :nosignatures:",
            "",
        ]
        lines += [f"   {name}" for name in names]
        lines.append("")
    return "\n".join(lines)


def _write_api_pages() -> None:
    out = DOCS / "api" / "generated"
    out.mkdir(parents=True, exist_ok=True)
    for module_name in API_MODULES:
        page = out / f"{module_name}.rst"
        text = _api_page(module_name)
        if not page.exists() or page.read_text() != text:  # keep mtimes for incremental builds
            page.write_text(text)


_write_api_pages()

# -- topic pages that land beside the guides -------------------------------------------------------
#: Top-level pages placed by hand in a toctree; every other ``docs/*.md`` page (a topic page
#: another part of the project adds: tracking, pipeline, cluster, ...) joins the user guide's
#: toctree by itself, in the order of ``TOPIC_ORDER`` and then alphabetically.
PLACED = {
    "index",
    "getting_started",
    "conventions",
    "mathematics",
    "mapping_model",
    "reproducing",
    "performance",
    "reliability",
    "bad_input",
    "changelog",
    "citing",
}
TOPIC_ORDER = ["tracking", "pipeline", "bistatic", "learned_imager", "cluster"]
_TOPIC_MARKER = "<!-- topic pages: conf.py lists docs/*.md pages not placed elsewhere here -->"


def _topic_pages() -> list[str]:
    found = sorted(p.stem for p in DOCS.glob("*.md") if p.stem not in PLACED)
    return sorted(found, key=lambda n: (TOPIC_ORDER.index(n) if n in TOPIC_ORDER else 99, n))


def _insert_topic_pages(app, docname, source):
    if docname != "guide/index" or _TOPIC_MARKER not in source[0]:
        return
    pages = _topic_pages()
    block = ["```{toctree}", ":maxdepth: 1", ":caption: More topics", ""]
    block += [f"/{name}" for name in pages] + ["```"]
    source[0] = source[0].replace(_TOPIC_MARKER, "\n".join(block) if pages else "")


def _reread_guide_index(app, env, added, changed, removed):
    # Its toctree lists the topic pages found at read time: an incremental build re-reads it.
    return ["guide/index"]


def setup(app):
    app.connect("source-read", _insert_topic_pages)
    app.connect("env-get-outdated", _reread_guide_index)
    return {"parallel_read_safe": True}
