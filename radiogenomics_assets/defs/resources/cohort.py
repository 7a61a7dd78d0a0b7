"""The cohort filter and the outcome's time origin: one setting read by every cohort asset.

A resource of the code location, not run config: its values are folded into the code version
of the assets that read them (:func:`radiogenomics_assets.defs.assets.cohort.with_cohort_settings`),
so changing a value makes exactly those assets stale, as a code change would.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import get_args

from dagster import ConfigurableResource
from pydantic import Field

from radiogenomics_assets.cohort.criteria import CohortCriteria, TherapyFlag, TherapyRule
from radiogenomics_assets.cohort.outcomes import Origin

_PAPER = CohortCriteria()


class CohortResource(ConfigurableResource):
    """Who enters the study cohort and where follow-up time starts (defaults: the paper's)."""

    require_rnaseq: bool = Field(default=_PAPER.require_rnaseq, description="needs RNA-seq")
    require_ct: bool = Field(default=_PAPER.require_ct, description="needs a CT series")
    require_seg: bool = Field(default=_PAPER.require_seg, description="needs a nodule SEG")
    require_known_recurrence: bool = Field(
        default=_PAPER.require_known_recurrence, description="recurrence recorded yes or no"
    )
    require_valid_outcome: bool = Field(
        default=_PAPER.require_valid_outcome,
        description="dates parse and follow-up time is positive",
    )
    exclude_adjuvant_therapy: bool = Field(
        default=_PAPER.exclude_adjuvant_therapy,
        description="exclude patients with any of therapy_flags",
    )
    therapy_flags: list[str] = Field(
        default=list(_PAPER.therapy_flags),
        description=f"which therapies exclude, of {', '.join(get_args(TherapyFlag))}",
    )
    exclude_unknown_therapy: bool = Field(
        default=_PAPER.exclude_unknown_therapy, description="an unknown therapy excludes too"
    )
    therapy_rule: TherapyRule = Field(
        default=_PAPER.therapy_rule,
        description="which adjuvant therapies the therapy criterion keeps: 'paper' (none), "
        "'keep_chemotherapy', 'keep_radiation', 'keep_chemoradiation' (both together), "
        "'keep_any' (see radiogenomics_assets.cohort.criteria)",
    )
    origin: Origin = Field(
        default=_PAPER.origin,
        description="'ct': days from the CT date (the paper's repository); "
        "'surgery': from CT date + 'Days between CT and surgery'",
    )

    def criteria(self) -> CohortCriteria:
        """The library's criteria object (validated there)."""
        return CohortCriteria(**{**self.model_dump(), "therapy_flags": tuple(self.therapy_flags)})

    def version(self, fields: Iterable[str] | None = None) -> str:
        """A short digest of ``fields`` (all by default) and their values."""
        values = self.model_dump()
        chosen = {name: values[name] for name in sorted(fields or values)}
        text = json.dumps(chosen, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]
