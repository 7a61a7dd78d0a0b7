-- The CONSORT-style flow of the study cohort, and why each excluded patient left it.
SELECT step, criterion, description, patients_remaining, patients_removed
FROM cohort.consort_flow
ORDER BY step;
