"""omics."""
