-- Which inputs produced one C-index: walk Dagster's lineage record (evaluation.lineage) from a
-- model's fold partition back to the raw files. Choose the metric first:
--   SET VARIABLE model = 'cox_ef_g_d'; SET VARIABLE fold = 'fold_4';
--   SET VARIABLE protocol = 'paper';   -- default 'recommended'
-- A fold partition of Dagster is '<fold>|<protocol>' (fold_4|paper); a net is trained once per
-- fold, under the recommended protocol, and both protocols report it: its walk starts from
-- model_partition (fold_4|recommended).
-- version_matches: whether the input version the downstream run recorded is that of the
-- upstream materialization listed (NULL where one input spans many partitions, which Dagster
-- records as one combined version).
WITH RECURSIVE metric AS (
    SELECT model, model_partition AS partition, c_index, model_run_id,
        model_code_version, model_data_version
    FROM evaluation.fold_metrics
    WHERE model = coalesce(getvariable('model'), 'cox_g')
      AND fold = coalesce(getvariable('fold'), 'fold_1')
      AND protocol = coalesce(getvariable('protocol'), 'recommended')
      AND split = 'test'
),
walk(depth, asset_key, partition, data_version, code_version, run_id, matches) AS (
    SELECT DISTINCT 0, l.asset_key, l.partition, l.data_version, l.code_version, l.run_id,
        m.model_data_version = l.data_version
    FROM metric AS m
    JOIN evaluation.lineage AS l
        ON l.asset_key = 'modeling/' || m.model AND l.partition = m.partition
    UNION
    SELECT DISTINCT w.depth + 1, up.asset_key, up.partition, up.data_version, up.code_version,
        up.run_id,
        -- Dagster records an unpartitioned input's data version as is, and a partitioned
        -- input's as sha256 of its partitions' versions (one partition here); a fan-in over
        -- many patients cannot be checked row by row and stays NULL.
        CASE
            WHEN up.partition IS NULL THEN edge.input_data_version = up.data_version
            WHEN up.partition = w.partition THEN edge.input_data_version = sha256(up.data_version)
        END
    FROM walk AS w
    JOIN evaluation.lineage AS edge
        ON edge.asset_key = w.asset_key AND edge.partition IS NOT DISTINCT FROM w.partition
    JOIN evaluation.lineage AS up
        ON up.asset_key = edge.input_asset_key
       AND (
            up.partition IS NOT DISTINCT FROM w.partition
            OR NOT EXISTS (
                SELECT 1 FROM evaluation.lineage AS same
                WHERE same.asset_key = edge.input_asset_key
                  AND same.partition IS NOT DISTINCT FROM w.partition
            )
       )
    WHERE w.depth < 12
)
SELECT
    min(depth) AS depth,
    asset_key,
    partition,
    code_version,
    data_version,
    run_id,
    bool_and(matches) AS version_matches
FROM walk
GROUP BY asset_key, partition, code_version, data_version, run_id
ORDER BY depth, asset_key, partition;
