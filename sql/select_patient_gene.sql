-- One gene across the cohort (features.gene_expression is sorted by gene, so this reads little).
--   SET VARIABLE gene = 'A2M';
SELECT g.patient_id, g.expression, g.imputed, c.event, c.days
FROM features.gene_expression AS g
JOIN cohort.study_cohort AS c USING (patient_id)
WHERE g.gene = coalesce(getvariable('gene'), (SELECT min(gene) FROM features.gene_expression))
ORDER BY g.patient_id;
