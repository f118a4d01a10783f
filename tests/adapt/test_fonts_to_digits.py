"""The project's measured goal: digits rendered from fonts (source) -> scikit-learn's handwritten digits (target).

Raw 64-d pixel features, no backbone. Prints the table; asserts only what is robust.
"""

from __future__ import annotations

import time

from sklearn.datasets import load_digits

from graft.adapt import compare_adapters, format_reports

METHODS = ["source-only", "coral", "sa", "iw", "kmm", "kliep", "self-train", "auto"]


def test_fonts_to_handwritten_digits(font_digits):
    Xs, ys = font_digits
    target = load_digits()
    start = time.perf_counter()
    reports = compare_adapters(Xs, ys, target.data, target.target, methods=METHODS)
    seconds = time.perf_counter() - start
    print(f"\n{seconds:.1f} s; source: {len(Xs)} rendered digits ({len(Xs) // 10} fonts); target: load_digits ({len(target.data)})")
    print(format_reports(reports))
    auto = reports[-1].estimator.selection_
    print(auto.format_table())
    print(auto.reason)

    acc = {r.method: r.target_accuracy for r in reports}
    assert acc["source-only"] > 0.3  # the fixture is sane: far above chance (0.1)
    assert max(acc[m] for m in METHODS[1:-1]) > acc["source-only"] + 0.03  # some method helps
    assert acc["auto"] >= acc["source-only"] - 0.02  # label-free choice does not make things worse
