"""CT series and DICOM SEG: validate, decode onto one voxel grid, store as NIfTI.

Pipeline of the ``features/nodule_volume`` partition (pure functions, in this order)::

    headers = headers.read_series_instances(files, expected_series_uid=..., expected_modality=...)
    ct = series.read_ct_series(ct_files, patient_id=pid, expected_series_uid=ct_uid)
    nodule = seg.decode_segmentation(seg_file, ct, patient_id=pid)  # segments.py: the rule
    record = nifti.store_nodule_volume(file_store, pid, ct, nodule)   # record.row -> DuckDB

Every failure is a subclass of ``errors.DicomValidationError`` named for its kind, with the
patient, file, series UID or SOP instance UID in its message.
"""
