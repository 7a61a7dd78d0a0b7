-- The demo cohort's oracle row (evaluation/demo_oracle): the generator's true risk scored like
-- a model, an upper reference for Table 1 under both protocols (the folds are the same); no row
-- on real sources.
SELECT
    model,
    label,
    round(fold_1, 2) AS fold_1,
    round(fold_2, 2) AS fold_2,
    round(fold_3, 2) AS fold_3,
    round(fold_4, 2) AS fold_4,
    round(fold_5, 2) AS fold_5,
    printf('%.2f ± %.2f', mean, sd) AS mean_sd,
    printf('[%.2f, %.2f]', ci_low, ci_high) AS ci_95,
    printf('%.2f ± %.2f', mean_all, sd_all) AS mean_sd_all_repeats,
    n_folds_all
FROM evaluation.demo_oracle;
