"""Reading a rendered study report as a reader would: rows by model, images, links.

Shared by the page's unit tests and the full-graph test on a walked store.
"""

from __future__ import annotations

import base64
import html
import io
import re

from matplotlib import image as mpimg

_ROW = re.compile(r'<tr[^>]*\bdata-model="([^"]+)"[^>]*>(.*?)</tr>', re.DOTALL)
_SECTION = re.compile(r'<section id="protocol-([^"]+)">(.*?)</section>', re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_IMG_SRC = re.compile(r'<img[^>]*\bsrc="([^"]*)"')
_URL_ATTRIBUTE = re.compile(r'\b(?:src|href|action|poster|data)="([^"]*)"')
_CSS_URL = re.compile(r"url\(([^)]*)\)")
PNG_DATA = "data:image/png;base64,"


def text_of(fragment: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed."""
    return " ".join(html.unescape(_TAG.sub(" ", fragment)).split())


def protocol_sections(page: str) -> dict[str, str]:
    return dict(_SECTION.findall(page))


def model_rows(fragment: str) -> dict[str, list[str]]:
    """Per model, the text of each table row it heads in ``fragment`` (Table 1 and gains)."""
    rows: dict[str, list[str]] = {}
    for model, row in _ROW.findall(fragment):
        rows.setdefault(model, []).append(text_of(row))
    return rows


def decoded_images(page: str) -> list[tuple[int, int]]:
    """(height, width) of every <img>, decoded from its data URI.

    Raises:
        AssertionError: an image is not an embedded PNG, or does not decode.
    """
    shapes = []
    for src in _IMG_SRC.findall(page):
        assert src.startswith(PNG_DATA), f"an image that is not an embedded PNG: {src[:60]}"
        pixels = mpimg.imread(io.BytesIO(base64.b64decode(src[len(PNG_DATA) :])), format="png")
        shapes.append(pixels.shape[:2])
    return shapes


def external_references(page: str) -> list[str]:
    """Every attribute or CSS url() that would make the browser fetch something."""
    found = _URL_ATTRIBUTE.findall(page) + _CSS_URL.findall(page)
    return [url for url in found if not url.startswith(("#", PNG_DATA))]
