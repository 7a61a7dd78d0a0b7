"""Anonymous reads from a public S3 bucket over plain HTTPS: list a prefix, name an object's URL.

IDC's DICOM files sit in public buckets (``idc-open-data``), one folder per series named by its
``crdc_series_uuid``. ``ListObjectsV2`` (``GET /?list-type=2&prefix=...``) answers XML pages of
up to 1,000 keys with their size and ETag; ``IsTruncated`` and ``NextContinuationToken`` page on.
For an object uploaded in one part the ETag is the hex MD5 of its bytes, which the download
checks; a multipart ETag (``<hex>-<parts>``) is not an MD5 and only the size is checked.

The endpoint is a template with ``{bucket}`` so tests point it at a loopback server
(``http://127.0.0.1:<port>/{bucket}``) and a mirror can replace AWS.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import quote

from radiogenomics_assets.sources.base import LogFn, SourceError
from radiogenomics_assets.sources.http import HttpClient

#: Virtual-hosted-style public S3 endpoint.
DEFAULT_S3_ENDPOINT = "https://{bucket}.s3.amazonaws.com"
_NAMESPACE = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
#: Pages listed before giving up: 1,000 keys each, far beyond any series.
_MAX_PAGES = 1000


class S3ListingError(SourceError):
    """A bucket listing could not be read (not ListBucketResult XML, a page without a token)."""


@dataclass(frozen=True)
class S3Object:
    """One key of a listing: its name, size and ETag (quotes removed)."""

    key: str
    size: int
    etag: str

    @property
    def md5(self) -> str | None:
        """The object's MD5 when its ETag is one (single-part upload), else None."""
        tag = self.etag.lower()
        return tag if _MD5.fullmatch(tag) else None


def bucket_url(endpoint: str, bucket: str) -> str:
    """The bucket's base URL from the endpoint template.

    Raises:
        ValueError: ``bucket`` is not a valid S3 bucket name (it would reach a URL).
    """
    if not _BUCKET.fullmatch(bucket):
        raise ValueError(f"invalid S3 bucket name {bucket!r}")
    return endpoint.format(bucket=bucket).rstrip("/")


def object_url(endpoint: str, bucket: str, key: str) -> str:
    return f"{bucket_url(endpoint, bucket)}/{quote(key, safe='/')}"


def _text(element: ET.Element, tag: str) -> str | None:
    found = element.find(_NAMESPACE + tag)
    if found is None:
        found = element.find(tag)
    return None if found is None else (found.text or "")


def _parse_page(body: bytes, *, url: str) -> tuple[list[S3Object], str | None]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as error:
        raise S3ListingError(f"{url}: listing is not XML: {error}") from error
    if root.tag not in {_NAMESPACE + "ListBucketResult", "ListBucketResult"}:
        raise S3ListingError(f"{url}: expected ListBucketResult XML, got <{root.tag}>")
    objects = []
    contents = root.findall(_NAMESPACE + "Contents") or root.findall("Contents")
    for item in contents:
        key, size, etag = _text(item, "Key"), _text(item, "Size"), _text(item, "ETag")
        if not key or size is None or not size.isdigit():
            raise S3ListingError(f"{url}: listing entry without a key or size: {key!r} {size!r}")
        objects.append(S3Object(key, int(size), (etag or "").strip('"')))
    truncated = (_text(root, "IsTruncated") or "false").strip().lower() == "true"
    token = _text(root, "NextContinuationToken") if truncated else None
    if truncated and not token:
        raise S3ListingError(f"{url}: listing is truncated but has no NextContinuationToken")
    return objects, token


def list_objects(
    http: HttpClient, endpoint: str, bucket: str, prefix: str, *, log: LogFn | None = None
) -> list[S3Object]:
    """Every object under ``prefix`` in ``bucket``, across all pages.

    Raises:
        ValueError: invalid bucket name.
        S3ListingError: a page is not a ListBucketResult, or paging does not end.
        HttpStatusError, RetriesExhaustedError: from the HTTP layer (403 for a private bucket).
    """
    url = bucket_url(endpoint, bucket) + "/"
    objects: list[S3Object] = []
    token: str | None = None
    for _page in range(_MAX_PAGES):
        params = {"list-type": "2", "prefix": prefix}
        if token is not None:
            params["continuation-token"] = token
        response = http.get(url, params, log=log)
        page, token = _parse_page(response.content, url=response.url or url)
        objects.extend(page)
        if token is None:
            return objects
    raise S3ListingError(
        f"{url}: listing of prefix {prefix!r} did not end after {_MAX_PAGES} pages"
    )
