"""Shift: how far apart two sets of embeddings are (e.g. training data vs. the data met in use).

- :func:`mmd`: kernel two-sample statistic with a permutation-test p-value ("is there a shift?").
- :func:`proxy_a_distance`: 0..2 distance from a domain classifier's error ("how big is it?").
- :func:`domain_classifier_auc`: the same classifier's AUC, for drift detectors.
- :func:`measure_shift`: all of the above on two embedding sets, as one :class:`ShiftResult`.
- :func:`dataset_shift`: the same between two datasets, embedded by one backbone (``graft shift``).

Example:
    >>> import numpy as np
    >>> from graft.shift import mmd, proxy_a_distance
    >>> rng = np.random.default_rng(0)
    >>> train, live = rng.normal(size=(200, 8)), rng.normal(size=(200, 8)) + 0.5
    >>> mmd(train, live, n_permutations=100).p_value < 0.05
    True
    >>> proxy_a_distance(train, live).distance > 0.5
    True
"""

from graft.shift.driver import ShiftResult, dataset_shift, measure_shift
from graft.shift.mmd import MMDResult, mmd
from graft.shift.proxy_a import PADResult, domain_classifier_auc, proxy_a_distance

__all__ = ["MMDResult", "PADResult", "ShiftResult", "dataset_shift", "domain_classifier_auc", "measure_shift", "mmd",
           "proxy_a_distance"]
