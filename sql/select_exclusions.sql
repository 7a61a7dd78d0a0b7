-- Every excluded patient with the first criterion it failed.
SELECT patient_id, exclusion_reason, exclusion_detail
FROM cohort.patients
WHERE NOT included
ORDER BY exclusion_reason, patient_id;
