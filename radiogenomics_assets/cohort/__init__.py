"""The study cohort: typed clinical labels, outcomes, availability, criteria and checks.

Pipeline (pure functions; the Dagster assets call them in this order)::

    typed = clinical.type_clinical_labels(raw_clinical_labels)
    outcomes = outcomes.compute_outcomes(typed, origin=criteria.origin)      # cohort.outcomes
    available = availability.availability(typed["patient_id"], rnaseq_long, manifest)
    patients = criteria.apply_criteria(typed, outcomes, available, criteria)  # cohort.patients
    cohort = criteria.study_cohort(patients, outcomes)                        # cohort.study_cohort
    flow = criteria.consort_flow(patients, criteria)                          # CONSORT table

Each module's docstring records the choices made where the paper is silent (date formats,
missing tokens, outcome origin, criterion order, therapy flags).
"""
