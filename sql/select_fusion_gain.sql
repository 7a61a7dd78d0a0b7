-- Does fusion help? Per fusion model under one protocol (evaluation/fusion_gain): its best
-- single-modality model of the same family, the mean test C-index gain over every repeat × fold,
-- its paired bootstrap 95% CI (both models on the same resampled test patients, fitted models
-- held fixed) and the Nadeau–Bengio corrected resampled t-test p-value. Per-fold gains with
-- their own CIs are in evaluation.fusion_gain_folds. Choose the protocol first:
--   SET VARIABLE protocol = 'paper';   -- or 'recommended' (the default)
SELECT
    g.protocol,
    g.fusion_model,
    g.best_single_model,
    g.n_folds,
    round(g.mean_gain, 3) AS gain,
    printf('[%.3f, %.3f]', g.ci_low, g.ci_high) AS ci_95,
    round(g.p_value, 4) AS p_value
FROM evaluation.fusion_gain AS g
LEFT JOIN modeling.model_registry AS r ON r.name = g.fusion_model
WHERE g.protocol = coalesce(getvariable('protocol'), 'recommended')
ORDER BY r.rowid;
