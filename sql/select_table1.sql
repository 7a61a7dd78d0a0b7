-- Table 1 of the paper, regenerated: (a) the CoxNet models and (b) the neural nets. Test
-- C-index per fold, mean ± sd and the bootstrap 95% CI of the mean (evaluation/results_table),
-- in registry order; only the models evaluated on every fold. The demo cohort's oracle row is
-- in select_demo_oracle.sql.
SELECT
    r.paper_table,
    r.model,
    r.label,
    round(r.fold_1, 2) AS fold_1,
    round(r.fold_2, 2) AS fold_2,
    round(r.fold_3, 2) AS fold_3,
    round(r.fold_4, 2) AS fold_4,
    round(r.fold_5, 2) AS fold_5,
    printf('%.2f ± %.2f', r.mean, r.sd) AS mean_sd,
    printf('[%.2f, %.2f]', r.ci_low, r.ci_high) AS ci_95
FROM evaluation.results_table AS r
LEFT JOIN modeling.model_registry AS g ON g.name = r.model
ORDER BY r.paper_table, g.rowid NULLS LAST, r.model;
