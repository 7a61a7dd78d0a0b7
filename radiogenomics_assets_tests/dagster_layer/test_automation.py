"""The patients sensor and the automation conditions: new, changed, departed, stranded patients."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import (
    AddDynamicPartitionsRequest,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    Definitions,
    DeleteDynamicPartitionsRequest,
    Output,
    asset,
    build_sensor_context,
    define_asset_job,
    evaluate_automation_conditions,
    materialize,
)

from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.defs.assets.outputs import table_output
from radiogenomics_assets.defs.assets.raw import imaging_manifest
from radiogenomics_assets.defs.automation import (
    RETRAIN_CRON,
    automation_sensor,
    on_changed_inputs,
    on_changed_inputs_at,
    patients_sensor,
)
from radiogenomics_assets.defs.names import PATIENTS_PARTITIONS, SOURCE_IMAGING
from radiogenomics_assets.defs.registration import (
    DATA_VERSION_TAG,
    imaged_patients,
    observed_versions,
    patient_source_versions,
    register_patients_from_store,
)
from radiogenomics_assets.store.database import read_table, replace_partition
from radiogenomics_assets_tests.dagster_layer.conftest import resources_for


@pytest.fixture
def instance(tmp_path):
    """A persistent instance: the sensor resolves new partitions through its instance ref."""
    (tmp_path / "dagster_home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster_home")) as persistent:
        yield persistent


@pytest.fixture
def manifest(store, demo_source, instance) -> pd.DataFrame:
    assert materialize(
        [imaging_manifest], instance=instance, resources=resources_for(store, demo_source)
    ).success
    with store.get_connection() as conn:
        return read_table(conn, "raw", "imaging_manifest")


def _tick(store, demo_source, instance):
    defs = build_definitions(store, demo_source)
    context = build_sensor_context(
        instance=instance,
        instance_ref=instance.get_ref(),
        resources={"store": store},
        definitions=defs,
    )
    return patients_sensor.evaluate_tick(context)


def _apply(result, instance) -> None:
    """What the daemon does with a tick's result, short of launching the runs."""
    for request in result.dynamic_partitions_requests:
        if isinstance(request, AddDynamicPartitionsRequest) and request.partition_keys:
            instance.add_dynamic_partitions(PATIENTS_PARTITIONS, request.partition_keys)
        elif isinstance(request, DeleteDynamicPartitionsRequest):
            for key in request.partition_keys:
                instance.delete_dynamic_partition(PATIENTS_PARTITIONS, key)
    for event in result.asset_events:
        instance.report_runless_asset_event(event)


def test_first_tick_registers_observes_and_runs_every_imaged_patient(
    store, demo_source, instance, manifest
) -> None:
    everyone = imaged_patients(manifest)
    versions = patient_source_versions(manifest)

    result = _tick(store, demo_source, instance)

    assert sorted(r.partition_key for r in result.run_requests) == everyone
    assert {r.run_key for r in result.run_requests} == {f"{p}:{versions[p]}" for p in everyone}
    _apply(result, instance)
    assert sorted(instance.get_dynamic_partitions(PATIENTS_PARTITIONS)) == everyone
    assert observed_versions(instance) == versions


def test_a_retried_tick_requests_the_same_runs_under_the_same_keys(
    store, demo_source, instance, manifest
) -> None:
    first = _tick(store, demo_source, instance)
    _apply(first, instance)
    # No run materialized anything yet (as after a tick that failed after registering): the
    # patients are requested again, under keys the daemon has already used.
    again = _tick(store, demo_source, instance)

    assert {r.run_key for r in again.run_requests} == {r.run_key for r in first.run_requests}
    assert again.asset_events == []


def test_stranded_partitions_registered_without_a_run_are_requested(
    store, demo_source, instance, manifest
) -> None:
    everyone = imaged_patients(manifest)
    # The ingest run registered every imaged patient (so no tick sees the new manifest without
    # them); none has a run yet.
    assert sorted(instance.get_dynamic_partitions(PATIENTS_PARTITIONS)) == everyone
    instance.delete_dynamic_partition(PATIENTS_PARTITIONS, everyone[0])  # and one it missed

    result = _tick(store, demo_source, instance)

    assert sorted(r.partition_key for r in result.run_requests) == everyone
    added = [r for r in result.dynamic_partitions_requests if r.partition_keys]
    assert [r.partition_keys for r in added] == [everyone[:1]]


@pytest.mark.parametrize("recorded_as", ["materialization", "observation"])
def test_a_changed_patient_is_recorded_and_rerun_alone(
    store, demo_source, instance, manifest, recorded_as: str
) -> None:
    """Source versions are recorded as runless materializations and observations; a store
    from before recorded only one kind, and the later record counts."""
    from dagster import AssetMaterialization, AssetObservation

    _apply(_tick(store, demo_source, instance), instance)
    changed = imaged_patients(manifest)[1]
    materialized = imaged_patients(manifest)
    # Pretend every patient ran, then the source announced another version of one of them.
    for patient in materialized:
        instance.report_runless_asset_event(_materialization(patient))
    event = AssetMaterialization if recorded_as == "materialization" else AssetObservation
    instance.report_runless_asset_event(
        event(SOURCE_IMAGING, partition=changed, tags={DATA_VERSION_TAG: "older"})
    )

    result = _tick(store, demo_source, instance)

    assert [r.partition_key for r in result.run_requests] == [changed]
    # Both kinds: Dagster's conditions read the materialization, its stale status the observation.
    assert sorted((e.partition, type(e).__name__) for e in result.asset_events) == [
        (changed, "AssetMaterialization"),
        (changed, "AssetObservation"),
    ]
    assert {e.tags[DATA_VERSION_TAG] for e in result.asset_events} != {"older"}


def _materialization(patient: str):
    from dagster import AssetMaterialization

    return AssetMaterialization(AssetKey(["raw", "nodule_segmentation"]), partition=patient)


def test_a_patient_gone_from_the_source_loses_partition_and_rows(
    store, demo_source, instance, manifest
) -> None:
    register_patients_from_store(instance, store, log=lambda _line: None)
    departed = "R01-999"
    instance.add_dynamic_partitions(PATIENTS_PARTITIONS, [departed])
    with store.get_connection() as conn:
        rows = pd.DataFrame({"patient_id": [departed, departed], "path": ["a", "b"]})
        replace_partition(
            conn,
            "raw",
            "nodule_segmentation",
            rows,
            partition_column="patient_id",
            partition_keys=[departed],
        )

    result = _tick(store, demo_source, instance)

    deleted = [
        r
        for r in result.dynamic_partitions_requests
        if isinstance(r, DeleteDynamicPartitionsRequest)
    ]
    assert [r.partition_keys for r in deleted] == [[departed]]
    with store.get_connection() as conn:
        left = read_table(conn, "raw", "nodule_segmentation")
    assert departed not in set(left["patient_id"])


def test_the_register_job_syncs_every_imaged_patient_once(
    store, demo_source, instance, manifest
) -> None:
    job = build_definitions(store, demo_source).get_job_def("register_patients_job")

    assert job.execute_in_process(instance=instance).success
    assert job.execute_in_process(instance=instance).success

    assert sorted(instance.get_dynamic_partitions(PATIENTS_PARTITIONS)) == imaged_patients(manifest)
    assert observed_versions(instance) == patient_source_versions(manifest)


def test_automation_conditions_by_layer() -> None:
    graph = build_definitions(retrain_cron="*/5 * * * *").resolve_asset_graph()

    def label(path: str) -> str | None:
        condition = graph.get(AssetKey(path.split("/"))).automation_condition
        return condition.get_label() if condition else None

    assert label("raw/clinical_labels") is None  # the schedule re-reads the source
    assert label("features/densenet_features") is None  # the patients sensor runs these
    assert label("cohort/study_cohort") == "inputs changed"
    assert label("evaluation/results_table") == "models or evaluation inputs changed"
    assert label("modeling/mfh_g_d") == "inputs changed, at */5 * * * *"

    def labels_within(path: str) -> set[str]:
        found, pending = set(), [graph.get(AssetKey(path.split("/"))).automation_condition]
        while pending:
            condition = pending.pop()
            found.add(condition.get_label())
            pending.extend(condition.children)
        return found

    # The evaluation waits for the patients' features three steps up (models, study tables).
    for path in ("evaluation/fold_metrics", "evaluation/results_table"):
        assert "an asset up to 3 steps upstream is in progress" in labels_within(path)
    assert "an asset up to 2 steps upstream is in progress" in labels_within("modeling/mfh_g_d")
    assert RETRAIN_CRON != "*/5 * * * *"
    assert automation_sensor.default_status == DefaultSensorStatus.RUNNING
    assert patients_sensor.default_status == DefaultSensorStatus.RUNNING


@pytest.mark.parametrize("running", ["down", "side"])
def test_a_run_that_just_left_progress_holds_its_targets_for_one_tick(running: str) -> None:
    """A tick reads the event log first and asks for runs in progress later: a step that ends
    in between is neither in progress nor updated yet. A cancelled run is such a state, seen
    for good; the target (``down`` itself, or its input ``side``) waits one tick, then runs."""

    def output(context) -> Output[pd.DataFrame]:
        return table_output(pd.DataFrame({"run": [context.run.run_id]}))  # a new data version

    up = asset(name="up")(output)
    side = asset(name="side")(output)

    @asset(automation_condition=on_changed_inputs(AssetSelection.assets()))
    def down(up: pd.DataFrame, side: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([up, side])

    defs = Definitions(
        assets=[up, side, down], jobs=[define_asset_job("running_job", selection=[running])]
    )
    with DagsterInstance.ephemeral() as instance:
        cursor = None

        def requested() -> bool:
            nonlocal cursor
            result = evaluate_automation_conditions(
                defs, instance, asset_selection=AssetSelection.all(), cursor=cursor
            )
            cursor = result.cursor
            return result.get_num_requested(AssetKey("down")) == 1

        assert materialize([up, side, down], instance=instance).success
        assert not requested()  # the first evaluation
        run = instance.create_run_for_job(  # it has planned its asset and is executing
            defs.resolve_job_def("running_job"),
            asset_selection=frozenset({AssetKey(running)}),
            status=DagsterRunStatus.STARTED,
        )
        assert materialize([up], instance=instance).success  # news for down
        assert not requested()  # held while the run is in progress
        instance.report_run_canceled(run)
        assert not requested()  # the tick on which it left progress
        assert requested()


@pytest.mark.parametrize("levels", [2, 3])
def test_the_evaluation_waits_for_a_patient_three_steps_upstream(levels: int) -> None:
    """The evaluation reads a genomics model and an imaging model, which reads a study table
    that gathers the patients' features. While a patient run is in flight, a genomics model may
    retrain (none of its inputs is in flight); an evaluation that looked only two steps up
    would run on it now and again after the imaging model: it must wait three."""

    def output(context) -> Output[pd.DataFrame]:
        return table_output(pd.DataFrame({"run": [context.run.run_id]}))  # a new data version

    patient = asset(name="patient")(output)
    genomics = asset(name="genomics")(output)
    eager = on_changed_inputs(AssetSelection.assets())

    @asset(automation_condition=eager)
    def study_table(patient: pd.DataFrame) -> pd.DataFrame:
        return patient

    @asset(automation_condition=eager)
    def imaging_model(study_table: pd.DataFrame) -> pd.DataFrame:
        return study_table

    @asset(automation_condition=eager)
    def genomics_model(genomics: pd.DataFrame) -> pd.DataFrame:
        return genomics

    @asset(automation_condition=on_changed_inputs(AssetSelection.assets(), levels=levels))
    def evaluation(imaging_model: pd.DataFrame, genomics_model: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([imaging_model, genomics_model])

    assets = [patient, genomics, study_table, imaging_model, genomics_model, evaluation]
    defs = Definitions(assets=assets, jobs=[define_asset_job("patient_job", selection=[patient])])
    with DagsterInstance.ephemeral() as instance:
        cursor = None

        def requested() -> set[str]:
            nonlocal cursor
            result = evaluate_automation_conditions(
                defs, instance, asset_selection=AssetSelection.all(), cursor=cursor
            )
            cursor = result.cursor
            return {a.key.to_user_string() for a in assets if result.get_num_requested(a.key)}

        assert materialize(assets, instance=instance).success
        assert not requested()  # the first evaluation
        run = instance.create_run_for_job(  # a new patient's features are being computed
            defs.resolve_job_def("patient_job"),
            asset_selection=frozenset({AssetKey("patient")}),
            status=DagsterRunStatus.STARTED,
        )
        assert materialize([genomics], instance=instance).success  # the cohort's new genes
        first = requested()
        assert "genomics_model" in first
        if levels == 2:
            assert "evaluation" in first  # the race: evaluated before the imaging model
            return
        assert "evaluation" not in first
        assert materialize(
            [genomics, genomics_model], selection=[genomics_model], instance=instance
        ).success
        assert "evaluation" not in requested()  # the patient is still in flight
        instance.report_run_canceled(run)
        assert "evaluation" not in requested()  # the tick on which it left progress
        assert "evaluation" in requested()


@pytest.mark.parametrize("new_patient", ["to_run", "failed"])
def test_the_study_table_waits_for_a_registered_patient_still_to_run(new_patient: str) -> None:
    """Registered in the ingest run, a new patient is missing until the sensor's run lands: the
    study-level table waits for it (a tick then would miss it for good), unless its run
    failed."""
    import datetime

    from dagster import DynamicPartitionsDefinition

    toy_patients = DynamicPartitionsDefinition(name="toy_patients")

    @asset(partitions_def=toy_patients)
    def features(context) -> None:
        if context.partition_key == "broken":
            raise ValueError("a corrupt series")

    @asset(
        deps=[features],
        automation_condition=on_changed_inputs_at("* * * * *", AssetSelection.assets(features)),
    )
    def study_table() -> None:
        return None

    defs = Definitions(assets=[features, study_table])
    start = datetime.datetime(2026, 12, 4, 4, 0, 30, tzinfo=datetime.UTC)
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("toy_patients", ["a", "b"])
        for patient in ("a", "b"):
            assert materialize([features], instance=instance, partition_key=patient).success
        assert materialize(
            [features, study_table], instance=instance, selection=[study_table]
        ).success
        cursor = None

        def requested(minute: int) -> bool:
            nonlocal cursor
            result = evaluate_automation_conditions(
                defs,
                instance,
                asset_selection=AssetSelection.all(),
                evaluation_time=start + datetime.timedelta(minutes=minute),
                cursor=cursor,
            )
            cursor = result.cursor
            return result.get_num_requested(study_table.key) == 1

        assert not requested(0)  # the first evaluation
        late = "broken" if new_patient == "failed" else "c"
        instance.add_dynamic_partitions("toy_patients", [late])
        assert materialize([features], instance=instance, partition_key="a").success  # news
        if new_patient == "failed":
            failed = materialize(
                [features], instance=instance, partition_key=late, raise_on_error=False
            )
            assert not failed.success
            # A failed patient does not hold the study back (after the one tick every run that
            # just ended holds its readers, see _busy).
            assert not requested(1)
            assert requested(2)
            return
        assert not requested(1)
        assert not requested(2)
        assert materialize([features], instance=instance, partition_key=late).success
        assert requested(3)
