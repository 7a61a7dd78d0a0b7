-- Per fold, each fusion model's test C-index against the best single-modality model of the same
-- estimator family over the same modalities (a Cox fusion against the Cox singles, a net against
-- the MLPs): the gain fusion brings (positive = fusion helps).
WITH test AS (
    SELECT m.fold, m.model, m.c_index, r.fusion, r.modalities, r.estimator
    FROM evaluation.fold_metrics AS m
    JOIN modeling.model_registry AS r ON r.name = m.model
    WHERE m.split = 'test'
),
single AS (
    SELECT fold, estimator, modalities AS modality, model, c_index
    FROM test
    WHERE fusion = 'single'
)
SELECT
    f.fold,
    f.model AS fusion_model,
    f.fusion,
    f.c_index AS fusion_c_index,
    arg_max(s.model, s.c_index) AS best_single_model,
    max(s.c_index) AS best_single_c_index,
    f.c_index - max(s.c_index) AS gain
FROM test AS f
JOIN single AS s
    ON s.fold = f.fold
    AND s.estimator = f.estimator
    AND list_contains(string_split(f.modalities, ','), s.modality)
WHERE f.fusion <> 'single'
GROUP BY f.fold, f.model, f.fusion, f.c_index
ORDER BY f.fold, f.model;
