-- Table 1(a) of the paper, regenerated: test C-index per model and fold, mean ± sd and the
-- bootstrap 95% CI of the mean (evaluation/results_table; the oracle row on the demo cohort).
SELECT
    model,
    label,
    round(fold_1, 2) AS fold_1,
    round(fold_2, 2) AS fold_2,
    round(fold_3, 2) AS fold_3,
    round(fold_4, 2) AS fold_4,
    round(fold_5, 2) AS fold_5,
    printf('%.2f ± %.2f', mean, sd) AS mean_sd,
    printf('[%.2f, %.2f]', ci_low, ci_high) AS ci_95
FROM evaluation.results_table;
