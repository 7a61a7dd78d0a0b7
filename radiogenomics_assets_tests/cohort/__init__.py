"""Tests of the cohort library."""
