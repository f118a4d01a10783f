"""Label-free criteria for judging an adapted model, none of which reads a target label.

Four criteria, each computed for a model fitted on part of the source plus the unlabelled target:

- **cluster consistency** (the default): the target is over-clustered with k-means (about three
  clusters per class) and a candidate scores ``1 - H(prediction | cluster) / H(prediction)``,
  the homogeneity of its predictions within clusters, times ``min(1, H(pred) / H(pred of
  source-only))`` so that collapsing the target onto few classes (which makes homogeneity
  trivially high) is not rewarded. It rests on the cluster assumption (good decision boundaries
  avoid dense target regions), in the spirit of the ClassAMI validator of Musgrave et al. 2022;
  over-clustering, unlike AMI against k clusters, does not reward predicting balanced classes.
  Higher is better.
- **DEV** (deep embedded validation, You et al. 2019): the held-out source loss re-weighted by a
  domain classifier trained *in the candidate's own feature space*, with the control variate
  ``eta = -Cov(L, w) / Var(w)`` that cancels much of the weights' variance. An estimate of the
  target risk: lower is better. It needs the domains to overlap: where a domain classifier
  separates them almost perfectly (rendered fonts vs handwriting), the weights collapse onto a
  few examples (see ``weight_ess``) and DEV degenerates to the plain source validation error.
- **reverse validation** (Zhong et al. 2010): pseudo-label the target with the candidate, adapt back
  from target to source with the same method, and measure the error on the held-out source.
- **target entropy**: mean normalised prediction entropy on the target. It rewards confidence,
  not correctness, so it is reported as evidence but only used when asked for.

Known limits: every criterion here can be fooled. Cluster consistency trusts the target's cluster
structure to follow the classes (weak for binary tasks whose classes are not clusters); DEV trusts
overlap; entropy rewards confidence. The evidence table is returned so a person can check.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import homogeneity_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from graft.adapt.base import DomainAdapter


def target_clusterings(
    Xt: np.ndarray, n_classes: int, seed: int = 0, runs: int = 3, max_points: int = 5000
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Rows used and several k-means over-clusterings (about 3 clusters per class) of the target."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(Xt), size=min(len(Xt), max_points), replace=False))
    Z = StandardScaler().fit_transform(Xt[rows])
    k = min(max(3 * n_classes, 10), len(rows) - 1)
    if k < 2:
        return rows, []
    return rows, [KMeans(k, n_init=2, random_state=seed + i).fit_predict(Z) for i in range(runs)]


def cluster_consistency(pred: np.ndarray, clusterings: list[np.ndarray]) -> float:
    """Mean homogeneity ``1 - H(pred | cluster) / H(pred)``; 0 for a single predicted class.

    Example:
        >>> clusters = [np.array([0, 0, 1, 1, 2, 2])]
        >>> round(cluster_consistency(np.array([0, 0, 1, 1, 1, 1]), clusters), 6)
        1.0
        >>> round(cluster_consistency(np.array([0, 1, 0, 1, 0, 1]), clusters), 6)
        0.0
    """
    if len(np.unique(pred)) < 2 or not clusterings:
        return 0.0
    return float(np.mean([homogeneity_score(pred, c) for c in clusterings]))


def label_entropy(pred: np.ndarray, n_classes: int) -> float:
    """Entropy of the predicted-label distribution divided by ``log(n_classes)``: 0 one class, 1 uniform.

    Example:
        >>> label_entropy(np.array([0, 0, 1, 1]), 2)
        1.0
    """
    freq = np.unique(pred, return_counts=True)[1] / len(pred)
    return float(-(freq * np.log(freq)).sum() / np.log(max(n_classes, 2)))


def dev_weights(F_train: np.ndarray, F_val: np.ndarray, F_target: np.ndarray, C: float = 1.0) -> np.ndarray:
    """Density ratios ``p_t / p_s`` of validation features from a domain classifier (unnormalised).

    The classifier is trained on the training-source and target features only, so the validation
    points it scores are unseen, and the class-prior ratio is divided out so ``E_s[w] = 1``.
    """
    X = np.vstack([F_train, F_target])
    d = np.r_[np.zeros(len(F_train)), np.ones(len(F_target))]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000)).fit(X, d)
    p = np.clip(clf.predict_proba(F_val)[:, 1], 1e-6, 1 - 1e-6)
    return p / (1 - p) * len(F_train) / len(F_target)


def dev_risk(losses: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """DEV's control-variate estimate of the target risk and its standard error.

    Example:
        >>> risk, se = dev_risk(np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, 1.0, 1.0, 1.0]))
        >>> risk
        0.5
    """
    weighted = losses * weights
    var_w = float(np.var(weights, ddof=1)) if len(weights) > 1 else 0.0
    eta = -float(np.cov(weighted, weights)[0, 1]) / var_w if var_w > 1e-12 else 0.0
    corrected = weighted + eta * (weights - 1.0)
    se = float(np.std(corrected, ddof=1) / np.sqrt(len(corrected))) if len(corrected) > 1 else float("nan")
    return float(corrected.mean()), se


def prediction_entropy(proba: np.ndarray) -> float:
    """Mean prediction entropy divided by ``log(n_classes)``: 0 certain, 1 uniform.

    Example:
        >>> round(prediction_entropy(np.array([[0.5, 0.5], [1.0, 0.0]])), 6)
        0.5
    """
    p = np.clip(proba, 1e-12, 1.0)
    return float(np.mean(-(p * np.log(p)).sum(axis=1)) / np.log(proba.shape[1]))


def reverse_error(
    model: DomainAdapter, Xs_train: np.ndarray, Xs_val: np.ndarray, ys_val: np.ndarray, Xt: np.ndarray
) -> float:
    """Reverse validation: adapt target (pseudo-labelled by ``model``) back to source; held-out error."""
    pseudo = model.predict(Xt)
    if len(np.unique(pseudo)) < 2:
        return 1.0  # the candidate collapsed the target onto one class
    reverse = clone(model).fit(Xt, pseudo, Xs_train)
    return float(np.mean(reverse.predict(Xs_val) != ys_val))
