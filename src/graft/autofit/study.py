"""Hyper-parameters inside an arm (C, kept fraction, LR, epochs) as an Optuna study.

In memory by default. With a storage URL (``sqlite:///fit.db`` on one machine, a database server
for several) every ``graft fit`` worker on the same data and settings opens the same study (its
name derives from the data fingerprint and the settings) and the trials are shared: a worker runs
trials until the study holds ``n_trials`` of them, counting those of the other workers, then
refits the best trial's parameters locally (cheap for probes: the features are cached).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
from typing import Any, Callable

from graft.errors import UsageError

log = logging.getLogger(__name__)


def study_name(fingerprint: str, settings: dict[str, Any]) -> str:
    """A stable name for the data + settings, so that workers given the same ones meet in one study."""
    digest = hashlib.sha256(json.dumps([fingerprint, settings], sort_keys=True, default=str).encode()).hexdigest()
    return f"graft-fit-{digest[:16]}"


def open_study(name: str, storage: str | None, seed: int) -> Any:
    """Create or load the study ``name`` (maximising validation accuracy)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=3)
    return _retrying(lambda: optuna.create_study(study_name=name, storage=_storage(storage), direction="maximize",
                                                 sampler=sampler, load_if_exists=True), storage, name)


def check_storage(url: str | None) -> None:
    """Open the storage once before any work: a URL that cannot serve fails now, saying what to give."""
    if url is None:
        return
    try:
        _retrying(lambda: _storage(url), url, "the storage")
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's errors for a bad scheme, path or server
        why = str(exc).splitlines()[0][:200]
        raise UsageError(f"--storage {url}: cannot open it as an Optuna storage ({type(exc).__name__}: {why}); give "
                         "a database URL such as sqlite:///fit.db (a file on this machine, its folder must exist) "
                         "or postgresql://user@host/db (workers on several machines)") from None


def _retrying(open_: Callable[[], Any], storage: str | None, what: str) -> Any:
    """``open_()``, tried again on failure: workers that start together race to create the schema
    (or the study) in a fresh database, and the loser sees an integrity, locking, "already exists"
    or "no such table" error. What no retry mends (a URL SQLAlchemy cannot parse or has no driver
    for, a database file it cannot open) is raised at once."""
    for attempt in range(6):
        try:
            return open_()
        except Exception as exc:  # noqa: BLE001 - see above
            permanent = (type(exc).__name__ in ("ArgumentError", "NoSuchModuleError")
                         or "unable to open database file" in str(exc))
            if storage is None or attempt == 5 or permanent:
                raise
            log.info("opening %s (attempt %d): %s", what, attempt + 1, exc)
            time.sleep(0.2 + random.random() * (attempt + 1))
    raise AssertionError("unreachable")


def _storage(url: str | None) -> Any:
    """An RDB storage; SQLite waits for a lock (up to 60 s) instead of failing at once."""
    if url is None:
        return None
    import optuna

    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def run_trials(study: Any, objective: Callable[[Any], float], n_trials: int, deadline: float,
               defaults: list[dict[str, Any]] | None = None) -> Any:
    """Run trials until the study (all workers together) holds ``n_trials``, or ``deadline``
    (a ``time.perf_counter`` value) passes; returns the best finished trial (None if none finished)."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    for params in defaults or []:
        study.enqueue_trial(params, skip_if_exists=True)  # known-good settings are tried first

    def tagged(trial: Any) -> float:
        trial.set_user_attr("worker", f"{os.uname().nodename}:{os.getpid()}")
        return objective(trial)

    states = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.PRUNED, TrialState.FAIL)
    done = len(study.get_trials(deepcopy=False, states=states))
    timeout = deadline - time.perf_counter()
    if done < n_trials and timeout > 0:
        study.optimize(tagged, n_trials=n_trials - done, timeout=timeout,
                       callbacks=[MaxTrialsCallback(n_trials, states=states)], catch=(ValueError,))
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not finished:
        return None
    return optuna_best(finished)


def optuna_best(trials: list[Any]) -> Any:
    """The best finished trial; ties go to the earliest (the enqueued defaults come first)."""
    return max(trials, key=lambda t: (t.value, -t.number))
