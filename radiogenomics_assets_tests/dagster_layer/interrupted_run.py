"""A raw-asset run that stops in the middle of a write, for a parent test to kill with SIGKILL.

Run as ``python -m radiogenomics_assets_tests.dagster_layer.interrupted_run <spec.json>``. The
spec names the database, the local source's three paths, the asset (and patient partition) and
where to stop:

- ``rows``: inside the IO manager's transaction, right after the asset's own rows were written
  (deleted and inserted) and before anything is committed or published;
- ``publish``: right after the staged file or folder was renamed to its final name, before the
  transaction that points rows at it commits;
- ``file``: in the middle of copying the user's file into the file store, half of it written.

At that point the child writes the spec's ``marker`` file and sleeps; the parent waits for the
marker and kills it. Nothing here runs unless a test starts it.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from dagster import DagsterInstance, materialize

from radiogenomics_assets.defs.assets import raw
from radiogenomics_assets.defs.registration import register_patients_from_store
from radiogenomics_assets.defs.resources import io_manager
from radiogenomics_assets.defs.resources.io_manager import DuckDBTableIOManager
from radiogenomics_assets.defs.resources.modeling import ModelingSettings
from radiogenomics_assets.defs.resources.source import LocalSourceResource
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.store.publish import Staged

_FOREVER_S = 600


def _stop_here(marker: Path) -> None:
    marker.write_text("stopped")
    time.sleep(_FOREVER_S)


def _install_stop(where: str, table: str, marker: Path) -> None:
    if where == "rows":
        real_write = io_manager.write_partition
        real_table = io_manager.write_table

        def write_partition(conn, schema, name, *args, **kwargs):
            real_write(conn, schema, name, *args, **kwargs)
            if name == table:
                _stop_here(marker)

        def write_table(conn, schema, name, *args, **kwargs):
            real_table(conn, schema, name, *args, **kwargs)
            if name == table:
                _stop_here(marker)

        io_manager.write_partition = write_partition
        io_manager.write_table = write_table
    elif where == "publish":
        real_publish = Staged.publish

        def publish(self: Staged) -> None:
            real_publish(self)
            _stop_here(marker)

        Staged.publish = publish
    elif where == "file":

        def copyfile(source, dest, *args, **kwargs):
            data = Path(source).read_bytes()
            with open(dest, "wb") as out:
                out.write(data[: len(data) // 2])
                out.flush()
                _stop_here(marker)
            return dest

        shutil.copyfile = copyfile  # the local source copies the user's file with it
    else:
        raise ValueError(f"unknown stop point {where!r}")


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    store = StoreResource(database=spec["database"])
    source = LocalSourceResource(**spec["source"])
    resources = {
        "io_manager": DuckDBTableIOManager(store=store),
        "store": store,
        "source": source,
        "settings": ModelingSettings(),
    }
    asset = getattr(raw, spec["asset"])
    # ct_series reads nodule_segmentation's stored rows: include it, run only the asset.
    assets = [raw.nodule_segmentation, asset] if spec["asset"] == "ct_series" else [asset]
    with DagsterInstance.ephemeral() as instance:
        partition = spec.get("partition")
        if partition:
            register_patients_from_store(instance, store)
        _install_stop(spec["where"], spec["asset"], Path(spec["marker"]))
        materialize(
            assets,
            selection=[asset],
            partition_key=partition,
            instance=instance,
            resources=resources,
        )
    raise SystemExit("the run was not stopped: the stop point was never reached")


if __name__ == "__main__":
    main(sys.argv[1])
