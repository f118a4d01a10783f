"""The report's plots as inline SVG strings (matplotlib, Agg backend, text drawn as paths).

Text as paths means the page needs no font and the SVG carries no text a browser could read as
markup: a class name becomes glyph outlines. Comments (where matplotlib writes the text) are
stripped, ids get a per-plot salt so two plots on one page never share one, and the ``width`` /
``height`` attributes stay (every plot's text has the same size) while CSS lets a plot shrink with the page.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

INK, MUTED, GRID = "#1f2937", "#6b7280", "#e5e7eb"
BLUE, GREEN, RED, AMBER, VIOLET = "#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed"
SERIES = (BLUE, AMBER, GREEN, VIOLET, RED, "#0891b2", "#db2777")
MAX_LABEL = 28  # characters of a tick label; longer names are cut with an ellipsis

_STYLE = {
    "svg.fonttype": "path", "text.parse_math": False, "text.usetex": False, "font.size": 9,
    "axes.edgecolor": GRID, "axes.labelcolor": INK, "axes.titlesize": 10, "axes.titleweight": "bold",
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.color": GRID,
    "grid.linewidth": 0.8, "axes.axisbelow": True, "xtick.color": MUTED, "ytick.color": MUTED, "legend.frameon": False,
    "figure.dpi": 100,
}


def _figure(width: float, height: float) -> "Figure":
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def to_svg(fig: "Figure", salt: str) -> str:
    """The figure as an ``<svg>`` element for inline use."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, **_STYLE}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, transparent=True)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    return text.replace("<svg ", '<svg class="plot" role="img" ', 1)


def _short(name: str, limit: int = MAX_LABEL) -> str:
    name = " ".join(str(name).split())
    return name if len(name) <= limit else name[: limit - 1] + "…"


def styled(draw: Any) -> Any:
    """Run a plotting function under the report's matplotlib style."""
    def wrapper(*args: Any, **kwargs: Any) -> str:
        import matplotlib

        with matplotlib.rc_context(_STYLE):
            return draw(*args, **kwargs)
    wrapper.__name__, wrapper.__doc__ = draw.__name__, draw.__doc__
    return wrapper


@styled
def bars(names: Sequence[str], values: Sequence[float], title: str, xlabel: str, highlight: Sequence[str] = (),
         salt: str = "bars") -> str:
    """Horizontal bars, best on top; highlighted names in blue, the rest grey."""
    fig = _figure(6.4, 0.5 + 0.32 * max(len(names), 2))
    ax = fig.add_subplot()
    y = np.arange(len(names))[::-1]
    colours = [BLUE if n in highlight else "#9ca3af" for n in names]
    ax.barh(y, values, color=colours, height=0.62)
    ax.set_yticks(y, [_short(n) for n in names])
    ax.set_title(title, loc="left")
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)
    for yi, v in zip(y, values):
        ax.annotate(f"{v:.3g}", (v, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8, color=INK)
    return to_svg(fig, salt)


@styled
def class_counts(counts: dict[str, dict[str, int]], salt: str = "counts") -> str:
    """Items per class, stacked by split."""
    names = list(counts)
    splits = [s for s in ("train", "val", "test") if any(s in c for c in counts.values())]
    fig = _figure(6.4, 0.6 + 0.28 * max(len(names), 2))
    ax = fig.add_subplot()
    y = np.arange(len(names))[::-1]
    left = np.zeros(len(names))
    for split, colour in zip(splits, (BLUE, AMBER, GREEN)):
        values = np.array([counts[n].get(split, 0) for n in names], dtype=float)
        ax.barh(y, values, left=left, color=colour, height=0.62, label=split)
        left += values
    ax.set_yticks(y, [_short(n) for n in names])
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=len(splits), fontsize=8)
    ax.set_title("Items per class", loc="right", color=MUTED, fontweight="normal")
    return to_svg(fig, salt)


@styled
def arms(rows: list[dict[str, Any]], chosen: str, salt: str = "arms") -> str:
    """Validation accuracy ± one standard error per arm (test accuracy as a hollow marker)."""
    scored = [r for r in rows if r.get("val_accuracy") is not None]
    fig = _figure(6.4, 0.7 + 0.38 * max(len(scored), 2))
    ax = fig.add_subplot()
    y = np.arange(len(scored))[::-1]
    for yi, r in zip(y, scored):
        colour = BLUE if r["method"] == chosen else "#6b7280"
        ax.errorbar(r["val_accuracy"], yi, xerr=r.get("val_se") or 0, fmt="o", color=colour, capsize=4, ms=6)
        if r.get("test_accuracy") is not None:
            ax.plot(r["test_accuracy"], yi - 0.22, marker="D", mfc="none", mec=colour, ms=5, ls="none")
    ax.set_yticks(y, [_short(r["method"]) + (" ★" if r["method"] == chosen else "") for r in scored])
    ax.set_ylim(-0.7, len(scored) - 0.3)
    ax.set_title("Arms: validation accuracy ± 1 s.e. (◇ test)", loc="left")
    ax.set_xlabel("accuracy")
    ax.grid(axis="y", visible=False)
    return to_svg(fig, salt)


@styled
def learning_curves(history: list[dict[str, Any]], salt: str = "curves") -> str:
    """Losses (left) and validation scores (right) per epoch; phase changes as dotted lines."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(7.2, 2.8)
    loss_ax, score_ax = fig.subplots(1, 2)
    x = np.arange(1, len(history) + 1)
    for key, colour, label in (("train_loss", BLUE, "train loss"), ("val_loss", AMBER, "val loss")):
        _series(loss_ax, x, history, key, colour, label)
    for key, colour, label in (("val_accuracy", GREEN, "val accuracy"), ("val_macro_f1", VIOLET, "val macro-F1")):
        _series(score_ax, x, history, key, colour, label)
    phases = [r.get("phase") for r in history]
    for ax in (loss_ax, score_ax):
        for i in range(1, len(phases)):
            if phases[i] != phases[i - 1]:
                ax.axvline(i + 0.5, color=MUTED, ls=":", lw=1)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, len(history) + 0.5)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    loss_ax.set_title("Loss", loc="left")
    score_ax.set_title("Validation", loc="left")
    return to_svg(fig, salt)


def _series(ax: Any, x: np.ndarray, history: list[dict[str, Any]], key: str, colour: str, label: str) -> None:
    values = np.array([r.get(key) if isinstance(r.get(key), (int, float)) else np.nan for r in history], dtype=float)
    if np.isfinite(values).any():
        ax.plot(x, values, color=colour, marker="o", ms=3, lw=1.6, label=label)


@styled
def confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str], salt: str = "confusion") -> str:
    """Row-normalised confusion matrix (true rows, predicted columns), counts written in small ones.

    Drawn as vector cells (``pcolormesh``), not an image: an ``imshow`` becomes an embedded PNG.
    """
    counts = np.asarray(matrix, dtype=float)
    n = len(classes)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    labels = [_short(c, 18) for c in classes] if n <= 40 else [""] * n
    room = 0.075 * max((len(x) for x in labels), default=0)  # inches the tick labels take
    side = min(max(2.6, 0.4 * n + 1.2), 8.0)
    fig = _figure(side + room + 0.4, side + 0.75 * room + 0.4)
    ax = fig.add_subplot()
    ax.pcolormesh(np.arange(n + 1) - 0.5, np.arange(n + 1) - 0.5, rates, cmap="Blues", vmin=0, vmax=1,
                  edgecolors="white", linewidth=0.5)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.grid(False)
    turn = n > 4 or max((len(x) for x in labels), default=0) > 8
    ax.set_xticks(np.arange(n), labels, rotation=40 if turn else 0, ha="right" if turn else "center",
                  rotation_mode="anchor")
    ax.set_yticks(np.arange(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix", loc="left")
    if n <= 15:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                            color="white" if rates[i, j] > 0.55 else INK)
    return to_svg(fig, salt)


@styled
def per_class_f1(per_class: dict[str, dict[str, float]], salt: str = "f1") -> str:
    """F1 per class, worst first, so the classes that need work stand out."""
    items = sorted(per_class.items(), key=lambda kv: kv[1].get("f1", 0.0))
    names = [k for k, _ in items]
    values = [v.get("f1", 0.0) for _, v in items]
    fig = _figure(4.6, 0.6 + 0.28 * max(len(names), 2))
    ax = fig.add_subplot()
    y = np.arange(len(names))[::-1]
    colours = [RED if v < 0.5 else AMBER if v < 0.8 else GREEN for v in values]
    ax.barh(y, values, color=colours, height=0.62)
    ax.set_yticks(y, [_short(n) for n in names])
    ax.set_xlim(0, 1.08)
    ax.set_title("F1 per class (worst first)", loc="left")
    ax.grid(axis="y", visible=False)
    for yi, v in zip(y, values):
        ax.annotate(f"{v:.2f}", (v, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8, color=INK)
    return to_svg(fig, salt)


@styled
def intervals(arms: list[tuple[str, dict[str, float]]], gains: list[tuple[str, dict[str, float]]], metric: str,
              confidence: float, salt: str = "verify", percent: bool = True) -> str:
    """Left: each arm's mean test score with its interval. Right: the differences, with zero marked.

    ``percent``: scores are shares (accuracy), drawn in %; otherwise as they are (R²).
    """
    fig = _figure(7.6, 0.9 + 0.45 * max(len(arms), len(gains), 2))
    left, right = fig.subplots(1, 2)
    scale = 100 if percent else 1
    _interval_rows(left, arms, [MUTED, BLUE, GREEN], scale=scale)
    left.set_title(f"Test {metric}{' (%)' if percent else ''}, {confidence:.0%} interval", loc="left")
    colours = [GREEN if g["low"] > 0 else RED if g["high"] < 0 else AMBER for _, g in gains]
    _interval_rows(right, gains, colours, scale=scale)
    right.axvline(0, color=INK, lw=1)
    right.set_title(f"Differences ({'points' if percent else metric})", loc="left")
    return to_svg(fig, salt)


def _interval_rows(ax: Any, rows: list[tuple[str, dict[str, float]]], colours: Sequence[str], scale: float) -> None:
    y = np.arange(len(rows))[::-1]
    for yi, (_, i), colour in zip(y, rows, colours):
        mean, low, high = (i[k] * scale for k in ("mean", "low", "high"))
        ax.errorbar(mean, yi, xerr=[[mean - low], [high - mean]], fmt="o", color=colour, capsize=5, ms=7, lw=2)
    ax.set_yticks(y, [_short(n) for n, _ in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.grid(axis="y", visible=False)


@styled
def class_shift(shifts: list[dict[str, Any]], salt: str = "drift") -> str:
    """Share of predictions per class in the reference vs the new data (most shifted classes)."""
    names = [s["name"] for s in shifts]
    fig = _figure(6.4, 0.7 + 0.4 * max(len(names), 2))
    ax = fig.add_subplot()
    y = np.arange(len(names))[::-1]
    ax.barh(y + 0.18, [s["reference_share"] for s in shifts], height=0.34, color="#9ca3af", label="reference")
    ax.barh(y - 0.18, [s["new_share"] for s in shifts], height=0.34, color=AMBER, label="new data")
    ax.set_yticks(y, [_short(n) for n in names])
    ax.set_title("Share of predictions", loc="right", color=MUTED, fontweight="normal")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2, fontsize=8)
    return to_svg(fig, salt)


MAX_POINTS = 2000  # points a scatter draws (each is an SVG element); a larger sample is thinned, evenly


@styled
def predicted_vs_true(true: np.ndarray, predicted: np.ndarray, target: str, salt: str = "scatter") -> str:
    """A regression model's predictions against the truth, one dot per item, the identity line
    dashed: dots above it are over-estimates, below it under-estimates."""
    true, predicted = np.asarray(true, dtype=float), np.asarray(predicted, dtype=float)
    shown = thin(len(true))
    fig = _figure(4.6, 4.3)
    ax = fig.add_subplot()
    ax.scatter(true[shown], predicted[shown], s=9, color=BLUE, alpha=0.45 if len(shown) > 200 else 0.8, linewidths=0)
    both = np.concatenate([true, predicted])
    low, high = float(both.min()), float(both.max())
    pad = 0.03 * (high - low or 1.0)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], color=INK, ls="--", lw=1, label="predicted = true")
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(low - pad, high + pad)
    ax.set_aspect("equal")
    ax.set_xlabel(f"true {_short(target)}")
    ax.set_ylabel(f"predicted {_short(target)}")
    ax.set_title("Predicted vs true", loc="left")
    ax.legend(loc="upper left", fontsize=8)
    return to_svg(fig, salt)


def thin(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``limit`` of ``n`` items, evenly spaced (the same page for the same data)."""
    return np.arange(n) if n <= limit else np.unique(np.linspace(0, n - 1, limit).round().astype(int))


@styled
def residual_histogram(residuals: np.ndarray, salt: str = "residuals") -> str:
    """Residuals (true − predicted): their spread, skew and the tails; zero and the median marked."""
    residuals = np.asarray(residuals, dtype=float)
    fig = _figure(4.6, 4.3)
    ax = fig.add_subplot()
    bins = min(40, max(5, int(np.ceil(np.sqrt(len(residuals))))))
    ax.hist(residuals, bins=bins, color=AMBER, edgecolor="white", linewidth=0.5)
    ax.axvline(0, color=INK, lw=1, label="0")
    ax.axvline(float(np.median(residuals)), color=BLUE, ls="--", lw=1.2, label="median")
    ax.set_xlabel("residual (true − predicted)")
    ax.set_ylabel("items")
    ax.set_title("Residuals", loc="left")
    ax.grid(axis="x", visible=False)
    ax.legend(fontsize=8)
    return to_svg(fig, salt)
