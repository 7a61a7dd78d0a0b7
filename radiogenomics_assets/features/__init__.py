"""Per-patient imaging features from the stored nodule volume.

Pipeline of the ``features/radiomic_features`` and ``features/densenet_features`` partitions::

    row = rows.radiomics_row(pid, ct_nifti, mask_nifti)              # 107 PyRadiomics features
    network = densenet_weights.load_densenet121("auto")              # once per process (cached)
    densenet_weights.refuse_random_fallback(network, source=...)     # off the demo: no fallback
    if network.fell_back: log a warning: the features are NOT ImageNet features
    row = rows.densenet_row(pid, ct_nifti, mask_nifti, network)       # 1024-d, max over slices

``radiomics.py`` and ``densenet.py`` document the settings (margin, bin width, crop, window);
``roi.py`` holds the mask geometry both use. ``blocks.py`` turns the stored tables into model
blocks and refuses a DenseNet table whose rows record different weights.
"""
