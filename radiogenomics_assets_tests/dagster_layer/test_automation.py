"""The new-patients sensor requests runs for exactly the patients not yet registered."""

from __future__ import annotations

from dagster import build_sensor_context, materialize, partition_loading_context

from radiogenomics_assets.assets.raw import imaging_manifest
from radiogenomics_assets.automation import new_patients_sensor
from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.names import PATIENTS_PARTITIONS
from radiogenomics_assets.registration import imaged_patients
from radiogenomics_assets.store.database import read_table
from radiogenomics_assets_tests.dagster_layer.conftest import resources_for


def test_sensor_adds_and_runs_only_new_patients(store, demo_source, instance) -> None:
    assert materialize(
        [imaging_manifest], instance=instance, resources=resources_for(store, demo_source)
    ).success
    with store.get_connection() as conn:
        everyone = imaged_patients(read_table(conn, "raw", "imaging_manifest"))
    known, new = everyone[:2], everyone[2:]
    instance.add_dynamic_partitions(PATIENTS_PARTITIONS, known)

    defs = build_definitions(store, demo_source)
    context = build_sensor_context(instance=instance, resources={"store": store}, definitions=defs)
    # The daemon validates run requests against the instance's partitions; so does this test.
    with partition_loading_context(dynamic_partitions_store=instance):
        result = new_patients_sensor.evaluate_tick(context)
        again = new_patients_sensor.evaluate_tick(context)

    assert sorted(r.partition_key for r in result.run_requests) == new
    assert sorted(instance.get_dynamic_partitions(PATIENTS_PARTITIONS)) == everyone
    assert again.run_requests == []


def test_register_patients_job_adds_every_imaged_patient_once(store, demo_source, instance) -> None:
    assert materialize(
        [imaging_manifest], instance=instance, resources=resources_for(store, demo_source)
    ).success
    with store.get_connection() as conn:
        everyone = imaged_patients(read_table(conn, "raw", "imaging_manifest"))
    job = build_definitions(store, demo_source).get_job_def("register_patients_job")

    assert job.execute_in_process(instance=instance).success
    assert job.execute_in_process(instance=instance).success

    assert sorted(instance.get_dynamic_partitions(PATIENTS_PARTITIONS)) == everyone
