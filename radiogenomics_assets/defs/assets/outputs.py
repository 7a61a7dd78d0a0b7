"""How table assets hand their frame to Dagster: with a content data version and metadata."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
from dagster import BetaWarning, DataVersion, MetadataValue, Output

from radiogenomics_assets.defs.resources.io_manager import TableWithRejections
from radiogenomics_assets.store.database import frame_digest
from radiogenomics_assets.store.publish import Staged


def digest_of(parts: Iterable[str]) -> str:
    """One sha256 over several digests (e.g. the files of a series), order-independent."""
    digest = hashlib.sha256()
    for part in sorted(parts):
        digest.update(part.encode())
    return digest.hexdigest()


def table_output(
    frame: pd.DataFrame,
    *,
    data_version: str | None = None,
    metadata: Mapping[str, object] | None = None,
    output_name: str = "result",
    rejections: pd.DataFrame | None = None,
    staged: Sequence[Staged] = (),
) -> Output:
    """Wrap ``frame`` so its data version is its content (or the given input-bytes digest).

    Downstream assets then go stale only when the content they read changes. ``rejections``
    (a raw asset's refused records) are stored with the rows, in the same transaction, and the
    ``staged`` files they were read from are published in it (see the IO manager).
    """
    version = data_version or frame_digest(frame)
    wrapped = rejections is not None or bool(staged)
    value = TableWithRejections(frame, rejections, tuple(staged)) if wrapped else frame
    with warnings.catch_warnings():
        # Data versions are what lets reruns recompute only stale assets; Dagster 1.13 still
        # labels the parameter beta and would warn on every output of every run.
        warnings.filterwarnings("ignore", message="Parameter `data_version`", category=BetaWarning)
        return Output(
            value,
            output_name=output_name,
            data_version=DataVersion(version),
            metadata={"data_version": MetadataValue.text(version), **(metadata or {})},
        )


def markdown_table(frame: pd.DataFrame, *, max_rows: int = 50) -> MetadataValue:
    shown = frame.head(max_rows)
    header = "| " + " | ".join(map(str, shown.columns)) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    rows = [
        "| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |"
        for row in shown.itertuples(index=False)
    ]
    more = [f"\n_{len(frame) - max_rows} more rows_"] if len(frame) > max_rows else []
    return MetadataValue.md("\n".join([header, rule, *rows, *more]))
