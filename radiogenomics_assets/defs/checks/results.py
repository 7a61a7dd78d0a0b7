"""Turn a library check outcome into a Dagster check result with the offending ids."""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from radiogenomics_assets.cohort.checks import CheckOutcome


def check_result(outcome: CheckOutcome) -> AssetCheckResult:
    return AssetCheckResult(
        passed=outcome.passed,
        severity=AssetCheckSeverity.ERROR
        if outcome.severity == "blocking"
        else AssetCheckSeverity.WARN,
        description=outcome.message,
        metadata={
            "n_offending": len(outcome.offending_ids),
            "offending_ids": MetadataValue.json(list(outcome.offending_ids)),
        },
    )
