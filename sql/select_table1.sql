-- Table 1 of the paper, regenerated under one study protocol: (a) the CoxNet models and (b) the
-- neural nets. Test C-index per fold of repeat 1 (the paper's layout), mean ± sd and the
-- bootstrap 95% CI of that mean (test patients resampled, fitted models held fixed), and the
-- mean ± sd over every repeat × fold of the repeated cross-validation, and the folds of repeat 1
-- where alpha selection chose the null model (constant risk, C = 0.500); in registry order. The
-- demo cohort's oracle row is in select_demo_oracle.sql. Choose the protocol first:
--   SET VARIABLE protocol = 'paper';   -- or 'recommended' (the default)
SELECT
    r.protocol,
    r.paper_table,
    r.model,
    r.label,
    round(r.fold_1, 2) AS fold_1,
    round(r.fold_2, 2) AS fold_2,
    round(r.fold_3, 2) AS fold_3,
    round(r.fold_4, 2) AS fold_4,
    round(r.fold_5, 2) AS fold_5,
    printf('%.2f ± %.2f', r.mean, r.sd) AS mean_sd,
    printf('[%.2f, %.2f]', r.ci_low, r.ci_high) AS ci_95,
    printf('%.2f ± %.2f', r.mean_all, r.sd_all) AS mean_sd_all_repeats,
    r.n_folds_all,
    r.null_model_folds
FROM evaluation.results_table AS r
LEFT JOIN modeling.model_registry AS g ON g.name = r.model
WHERE r.protocol = coalesce(getvariable('protocol'), 'recommended')
ORDER BY r.paper_table, g.rowid NULLS LAST, r.model;
