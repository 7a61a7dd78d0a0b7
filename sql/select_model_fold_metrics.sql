-- Every metric of one model, per protocol, repeat, fold and split. Choose the model first:
--   SET VARIABLE model = 'cox_ef_g_d';
SELECT
    protocol,
    repeat,
    fold,
    split,
    c_index,
    c_index_uno,
    mean_auc,
    ibs,
    n_patients,
    n_events,
    alpha_selection,
    auc_note,
    ibs_note
FROM evaluation.fold_metrics
WHERE model = coalesce(getvariable('model'), 'cox_g')
ORDER BY protocol, repeat, fold, split;
