"""The study report as one self-contained HTML page (Jinja2; figures embedded, no script).

The template lives beside this module (``templates/study_report.html.j2``). Its digest,
:data:`TEMPLATE_DIGEST`, belongs in the report asset's code version: the code hash sees Python
only, and a changed template changes the page as a changed function would.
"""

from __future__ import annotations

import hashlib
import json
import math
from importlib import metadata
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from radiogenomics_assets.report.content import StudyReport

TEMPLATES = Path(__file__).with_name("templates")
TEMPLATE = "study_report.html.j2"
TEMPLATE_DIGEST = hashlib.sha256((TEMPLATES / TEMPLATE).read_bytes()).hexdigest()[:12]

#: The libraries whose versions decide the results, as their distributions are named.
LIBRARIES = (
    "dagster",
    "duckdb",
    "pandas",
    "numpy",
    "scikit-survival",
    "scikit-learn",
    "torch",
    "torchvision",
    "pyradiomics-bhklab",
    "pydicom",
    "highdicom",
    "SimpleITK",
    "matplotlib",
    "Jinja2",
)


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _c(value: float | None) -> str:
    """A C-index or gain as the paper prints it: two decimals; a missing value as a dash."""
    return "–" if value is None or math.isnan(value) else f"{value:.2f}"


def _p(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _setting(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,  # a misspelt field fails the render, never prints empty
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(c=_c, p=_p, setting=_setting)
    return environment


def render_report(report: StudyReport) -> str:
    """The page of ``report`` as HTML text."""
    return _environment().get_template(TEMPLATE).render(report=report)
