"""New patients at the source: the whole chain refreshes by itself, recomputing only what changed.

Three parts, all run by the Dagster daemon (`make ui` starts one):

1. ``source_refresh_schedule`` (nightly, off by default because it polls the archive) re-reads
   the source into the raw tables. Each raw table's data version is its content, so a night
   without news changes no version and triggers nothing below.
2. ``patients_sensor`` compares the stored manifest with the ``patients`` partitions: it
   registers new patients, deletes departed ones (and their per-patient rows), records each
   patient's source version as a runless observation and materialization of
   ``source/patient_imaging``, and runs the per-patient assets of exactly the new, changed and
   never-run patients.
3. Declarative automation (``automation_sensor``, on by default) refreshes everything else:

   * cohort, features, folds and evaluation assets run when an input's *data version* changed
     (a rerun that produced the same content does not count), when they are missing, or when
     their code version changed; never while an input, or an input's input, is still being
     computed; evaluation assets count only the models' (and each other's) changes, and wait
     while anything up to the patients' features is in flight, so they run once after the
     whole retraining, not also after its first models;
   * the model grid and the study-level feature tables it reads additionally wait for a cron
     tick (``RETRAIN_CRON``, an hour after the nightly re-read). Ten patients arriving in one
     night therefore cost one retraining, not ten, and a model that reads imaging never
     retrains while a patient's features are still in flight (a genomics-only model may).
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

from collections.abc import Sequence

from dagster import (
    AssetsDefinition,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from radiogenomics_assets.defs.assets import model_assets, patient_assets
from radiogenomics_assets.defs.assets.study_tables import study_table_assets
from radiogenomics_assets.defs.names import EVALUATION, RAW
from radiogenomics_assets.defs.partitions import patients_partitions
from radiogenomics_assets.defs.registration import patient_changes, purge_patients
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.store.database import read_table, table_exists

SOURCE_REFRESH_CRON = "0 3 * * *"
#: The model grid retrains at most once per tick of this cron, after its inputs changed.
RETRAIN_CRON = "0 4 * * *"

source_refresh_schedule = ScheduleDefinition(
    name="source_refresh_schedule",
    job_name="ingest_job",
    cron_schedule=SOURCE_REFRESH_CRON,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Nightly: re-read the source's clinical labels, RNA-seq and imaging manifest.",
)


@sensor(
    job_name="patient_assets_job",
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Keep the patients partitions in step with raw.imaging_manifest and run the "
    "per-patient assets of new, changed and never-run patients.",
)
def patients_sensor(context: SensorEvaluationContext, store: StoreResource):
    with store.get_connection() as conn:
        if not table_exists(conn, RAW, "imaging_manifest"):
            return SkipReason("raw.imaging_manifest is not materialized yet")
        manifest = read_table(conn, RAW, "imaging_manifest")
    changes = patient_changes(manifest, context.instance)
    if changes.nothing and not changes.to_observe:
        return SkipReason("the patients partitions match the manifest")
    if changes.removed:
        purge_patients(store, changes.removed)
        context.log.warning(f"patients gone from the source, rows deleted: {changes.removed}")
    context.log.info(f"patients: {changes.summary()}")
    return SensorResult(
        # The key names the patient's source version: a retried tick or a second sensor
        # evaluation never launches the same work twice, a changed series launches it again.
        run_requests=[
            RunRequest(partition_key=patient, run_key=f"{patient}:{changes.versions[patient]}")
            for patient in changes.to_run
        ],
        dynamic_partitions_requests=[
            patients_partitions.build_add_request(changes.added),
            patients_partitions.build_delete_request(changes.removed),
        ],
        asset_events=changes.source_events(),
    )


def _inputs_changed(
    triggers: AssetSelection | None = None, on_demand: bool = False
) -> AutomationCondition:
    """An input has a new data version, or is recomputed in the same run.

    ``on_demand``: a walk's plan requests a missing input it then leaves out (a model a walk's
    ``skip`` names) again on every plan, so there only an input recomputed over an existing version
    counts as coming; a missing input that the walk does make reaches its readers as a new data
    version in the plan after the runs.
    """
    coming = AutomationCondition.will_be_requested()
    if on_demand:
        coming = coming & ~AutomationCondition.missing()
    changed = AutomationCondition.any_deps_match(
        AutomationCondition.data_version_changed() | coming
    )
    return (changed.allow(triggers) if triggers is not None else changed).with_label(
        "an input's data version changed"
    )


def _busy(on_demand: bool = False) -> AutomationCondition:
    """In progress now or at the previous evaluation (``on_demand``: now).

    A tick reads the event log when it starts and asks which runs are in progress later, so
    a step that finishes in between looks neither in progress nor updated: requested then, a
    fold model whose step just ended would run twice. One tick later its materialization is
    seen. Holding a target (or its inputs) for the tick on which it left progress closes that
    gap; the price is one tick of latency after every run.

    A walk is asked for once, not every 30 seconds: "at the previous evaluation" would hold back
    every partition new since the last walk (not in progress is newly true for it), for the
    whole walk. The race costs a walk at most a needless run, never a wrong result.
    """
    in_progress = AutomationCondition.in_progress()
    if on_demand:
        return in_progress.with_label("in progress")
    return (in_progress | (~in_progress).newly_true()).with_label(
        "in progress now or at the last tick"
    )


def on_changed_inputs(
    per_patient: AssetSelection,
    triggers: AssetSelection | None = None,
    label: str = "inputs changed",
    levels: int = 2,
    on_demand: bool = False,
) -> AutomationCondition:
    """Run when missing, on a new code version, or when an input's content changed; and only
    once every input is settled. A failed patient (a missing ``per_patient`` partition) does
    not hold the cohort back: the cohort goes on without them, as `make demo` does.

    ``triggers`` limits which inputs' changes count (all by default); ``levels`` is how far
    upstream an asset in progress holds it back (:func:`_upstream_in_progress`).

    ``on_demand``: the variant a walk (`make demo`, `make refresh`) evaluates when a user asks for a
    run now. What is missing, or whose last run failed, runs whatever an earlier evaluation saw; a
    missing input does not hold an asset back, since it is in the same walk's plan or left out on
    purpose (the nets of a linear walk, a walk's ``skip``). Only what is in progress now holds it
    back (:func:`_busy`).
    """
    changed = AutomationCondition.code_version_changed() | _inputs_changed(triggers, on_demand)
    settled = ~_upstream_in_progress(levels, on_demand) & ~_busy(on_demand)
    if on_demand:
        wanted = (
            AutomationCondition.missing()
            | AutomationCondition.execution_failed()
            | changed.since_last_handled()
        )
        return (wanted & settled).with_label(label)
    return (
        (AutomationCondition.newly_missing() | changed).since_last_handled()
        & ~AutomationCondition.any_deps_missing().ignore(per_patient)
        & settled
    ).with_label(label)


def _upstream_in_progress(levels: int, on_demand: bool = False) -> AutomationCondition:
    """An asset up to ``levels`` steps upstream is being computed (or was at the last tick, see
    :func:`_busy`): a new version is on its way.

    One level is not enough: a fold model reads ``fold_splits``, whose own input
    ``fold_assignment`` is still running in the cohort run when ``cohort/outcomes`` (run first)
    already has its new version; without the second level the models would train on the old
    splits and again on the new ones. The evaluation needs a third: it reads the models, which
    read the study tables, which gather the patients' features.
    """
    busy = _busy(on_demand)
    for _ in range(levels - 1):
        busy = _busy(on_demand) | AutomationCondition.any_deps_match(busy)
    return AutomationCondition.any_deps_match(busy).with_label(
        f"an asset up to {levels} steps upstream is in progress"
    )


def on_changed_inputs_at(cron: str, per_patient: AssetSelection) -> AutomationCondition:
    """:func:`on_changed_inputs`, gated to the first evaluation after each ``cron`` tick, and
    held while a patient read here is still to come (:func:`_patients_to_come`)."""
    return (
        AutomationCondition.cron_tick_passed(cron).since_last_handled()
        & on_changed_inputs(per_patient)
        & ~_patients_to_come(per_patient)
    ).with_label(f"inputs changed, at {cron}")


def _patients_to_come(per_patient: AssetSelection) -> AutomationCondition:
    """A patient partition read here is missing and its last run did not fail: it is queued, or
    the sensor is about to run it (it runs every registered patient that never ran).

    In progress is not enough: a tick may come between the patients' registration (in the
    ingest run) and the sensor's runs. A study table built then misses the patient for good,
    since the patient's features and the table's own rerun, new to one tick, are settled for
    the rerun. A failed patient does not hold the study back.
    """
    return (
        AutomationCondition.any_deps_match(
            AutomationCondition.missing() & ~AutomationCondition.execution_failed()
        )
        .allow(per_patient)
        .with_label("a patient read here is still to run")
    )


def with_automation(
    assets: Sequence[AssetsDefinition], retrain_cron: str = RETRAIN_CRON
) -> list[AssetsDefinition]:
    """``assets`` with the daemon's automation conditions (see the module docstring)."""
    return _with_conditions(assets, retrain_cron)


def for_walk(assets: Sequence[AssetsDefinition]) -> list[AssetsDefinition]:
    """``assets`` with the conditions a walk evaluates: the daemon's, without the cron gate (a
    user asked for the run now), with ``on_demand`` (:func:`on_changed_inputs`), and on the raw
    and per-patient assets too, which the daemon leaves to the schedule and the sensor."""
    return _with_conditions(assets, retrain_cron=None)


def _with_conditions(
    assets: Sequence[AssetsDefinition], retrain_cron: str | None
) -> list[AssetsDefinition]:
    on_demand = retrain_cron is None
    per_patient = AssetSelection.assets(*patient_assets)
    grid = {key for a in model_assets for key in a.keys}
    # The study tables gather every patient: refreshed with the grid, once per tick, not once
    # as the cohort lands and again as the last patient's features do.
    study_tables = {key for a in study_table_assets for key in a.keys}
    skipped = {key for a in patient_assets for key in a.keys}
    eager = on_changed_inputs(per_patient, on_demand=on_demand)
    gated = eager if on_demand else on_changed_inputs_at(retrain_cron, per_patient)
    # Evaluation reads the cohort too, but must wait for the models retrained on it: only the
    # grid's and its own inputs' changes trigger it, or it would run once before and once after.
    # And it waits while anything up to the patients' features is in flight: a genomics model
    # may retrain while a new patient's imaging is still running, the imaging models later.
    after_grid = on_changed_inputs(
        per_patient,
        AssetSelection.assets(*grid) | AssetSelection.groups(EVALUATION),
        "models or evaluation inputs changed",
        levels=3,
        on_demand=on_demand,
    )

    def condition(spec):
        if spec.key in skipped or spec.key.path[0] == RAW:
            # The schedule and the patients sensor run these for the daemon.
            return spec.replace_attributes(automation_condition=eager) if on_demand else spec
        if spec.key in grid or spec.key in study_tables:
            return spec.replace_attributes(automation_condition=gated)
        if spec.key.path[0] == EVALUATION:
            return spec.replace_attributes(automation_condition=after_grid)
        return spec.replace_attributes(automation_condition=eager)

    return [a.map_asset_specs(condition) for a in assets]


automation_sensor = AutomationConditionSensorDefinition(
    "automation_sensor",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates every asset's automation condition (see radiogenomics_assets."
    "automation): cohort, folds, models and evaluation refresh once after their inputs change.",
)
