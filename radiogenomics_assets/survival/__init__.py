"""Survival modelling: targets, fold splits, the model registry, CoxNet fusion, metrics, results.

Modules, in the order data flows through them:

* :mod:`.targets`: the one survival target type (``make_target``) and outcome validation.
* :mod:`.splits`: stable, event-stratified test folds and 70/10/20 fold splits.
* :mod:`.registry`: the declarative table of model specs the model assets are generated from.
* :mod:`.design`: a model's feature blocks aligned on the patients that have all of them.
* :mod:`.coxnet`: block preprocessing, CoxNet paths and the three alpha selections.
* :mod:`.fusion`: ``fit_predict`` for single, early- and late-fusion specs.
* :mod:`.model_file`: the one model file format of every estimator family (a JSON header and
  the family's payload in a zip); ``fitting.load_predictor`` reads any of them back.
* :mod:`.metrics`: Harrell's and Uno's C, time-dependent AUC and IBS via scikit-survival
  (pure functions of predictions and outcomes: they import no model module), and the one
  horizon and TD-AUC grid shared by every fold of a study.
* :mod:`.fitted`: what every fitted model offers, and ``evaluate_fitted`` through the metrics.
* :mod:`.stored`: a model's stored predictions table, its survival curves, its evaluation.
* :mod:`.study_protocol`: the paper and recommended protocols every fold asset runs under.
* :mod:`.results`, :mod:`.study_results` and :mod:`.figures`: Table 1 (per protocol, with the
  repeats' summary) and Fig. 2 regenerated.
* :mod:`.km`: test patients split at their fold's training-median risk, Kaplan–Meier curves,
  log-rank test and numbers at risk of the two groups, as a PNG.
* :mod:`.inference`: paired gains of each fusion over its best single model, bootstrap
  intervals conditional on the fitted models, and the corrected resampled t-test.

Nothing here imports dagster.
"""
