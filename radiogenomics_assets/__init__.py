"""Radiogenomics assets: NSCLC recurrence prediction from CT imaging and RNA-seq, as Dagster assets.

The package has two layers. Library code (``store``, ``sources``, ``dicom``, ``omics``,
``features``, ``cohort``, ``survival``) never imports dagster; the Dagster layer (``assets``,
``checks``, ``resources``, ``definitions``) loads inputs, calls the library and returns data
plus metadata.
"""
