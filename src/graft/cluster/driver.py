"""``cluster_dataset``: group a dataset by its embeddings, write assignments and central examples, and
measure the result against the labels (when known) and against clustering the raw inputs.

The raw-input baseline answers "did the backbone help?": images as resized grey pixels (32x32,
flattened), text as TF-IDF reduced by truncated SVD (LSA, 100 components), audio as a log
magnitude spectrum in 64 bands. It is clustered by the same method with the same number of
clusters, so NMI / ARI compare representations, not cluster counts.

Example:
    >>> report = cluster_dataset("data/fashion", "mobilenet_v2", k=10, out="clusters/")  # doctest: +SKIP
    >>> report["embedding"]["nmi"], report["raw"]["nmi"]                         # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graft.errors import UsageError

if TYPE_CHECKING:
    from graft.cluster.cluster import ClusterResult
    from graft.data.dataset import Dataset

log = logging.getLogger(__name__)

RAW_IMAGE_SIDE = 32
RAW_TEXT_COMPONENTS = 100
RAW_AUDIO_BANDS = 64
RAW_AUDIO_RATE = 16000


def raw_features(ds: "Dataset") -> np.ndarray | None:
    """The inputs themselves as vectors (see the module docstring); ``None`` for arrays (raw is the input)."""
    if ds.modality == "image":
        return _raw_images(ds.items)
    if ds.modality == "text":
        return _raw_text([str(t) for t in ds.items])
    if ds.modality == "audio":
        return _raw_audio(ds.items)
    return None


def _raw_images(items: list[Any]) -> np.ndarray:
    from PIL import Image

    from graft.data.images import load_image

    rows = [np.asarray(load_image(it).convert("L").resize((RAW_IMAGE_SIDE, RAW_IMAGE_SIDE), Image.Resampling.BILINEAR),
                       dtype=np.float32).ravel() / 255.0 for it in items]
    return np.stack(rows)


def _raw_text(texts: list[str]) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=1, stop_words="english").fit_transform(texts)
    n = min(RAW_TEXT_COMPONENTS, tfidf.shape[1] - 1, len(texts) - 1)
    if n < 2:
        return normalize(tfidf.toarray())
    return normalize(TruncatedSVD(n, random_state=0).fit_transform(tfidf))


def _raw_audio(items: list[Any]) -> np.ndarray:
    from graft.backbones.audio_io import load_audio

    rows = []
    for it in items:
        wave = load_audio(it, RAW_AUDIO_RATE) if isinstance(it, (str, Path)) else np.asarray(it, dtype=np.float32)
        spectrum = np.abs(np.fft.rfft(wave[: RAW_AUDIO_RATE * 2], n=2 * 4096))
        bands = np.array_split(spectrum, RAW_AUDIO_BANDS)
        rows.append(np.log1p(np.array([b.mean() for b in bands])))
    return np.stack(rows)


def _labels(ds: "Dataset") -> np.ndarray | None:
    return ds.labels if ds.is_labelled else None


def _item_name(item: Any, i: int) -> str:
    if isinstance(item, (str, Path)):
        return str(item)
    return f"row {i}"


def assignments_csv(ds: "Dataset", result: "ClusterResult", X: np.ndarray) -> str:
    """One row per item: its cluster (-1: noise), its distance to the cluster mean, and its label if known."""
    centres = {c: X[result.labels == c].mean(axis=0) for c in np.unique(result.labels[result.labels >= 0])}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["item", "cluster", "distance_to_centre", "label"])
    for i, (item, c) in enumerate(zip(ds.items, result.labels)):
        dist = "" if c < 0 else f"{float(np.linalg.norm(X[i] - centres[int(c)])):.6f}"
        label = ds.classes[ds.labels[i]] if ds.labels[i] >= 0 else ""
        writer.writerow([_item_name(item, i), int(c), dist, label])
    return buffer.getvalue()


def central_csv(ds: "Dataset", result: "ClusterResult") -> str:
    """The most central examples of each cluster, nearest its mean first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["cluster", "rank", "item", "label"])
    for c, rows in result.central.items():
        for rank, i in enumerate(rows):
            label = ds.classes[ds.labels[i]] if ds.labels[i] >= 0 else ""
            writer.writerow([c, rank, _item_name(ds.items[i], i), label])
    return buffer.getvalue()


def _summary(result: "ClusterResult") -> dict[str, Any]:
    return {"method": result.method, "k": result.k, "silhouette": result.silhouette,
            "silhouette_by_k": {str(k): v for k, v in result.silhouette_by_k.items()},
            "nmi": result.nmi, "ari": result.ari, "n_noise": result.n_noise,
            "sizes": {str(c): int(n) for c, n in zip(*np.unique(result.labels, return_counts=True))}}


def cluster_dataset(
    data: Any,
    backbone: str | None = None,
    *,
    k: int | None = None,
    method: str = "kmeans",
    k_range: tuple[int, int] = (2, 15),
    out: str | Path | None = None,
    compare_raw: bool = True,
    normalize: bool | None = None,
    n_central: int = 5,
    seed: int = 0,
    image_size: int | None = None,
    weights: str | Path | None = None,
    allow_download: bool = False,
    progress: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Cluster ``data`` by its embeddings; optionally write ``assignments.csv``, ``central.csv``, ``summary.json``.

    Args:
        data: folder / table / `Dataset` (labels, when present, are used only to score).
        backbone: zoo name (default ``mobilenet_v2``).
        k: number of clusters; ``None``: best silhouette in ``k_range`` (HDBSCAN finds its own).
        method: ``kmeans``, ``agglomerative`` or ``hdbscan``.
        out: folder for the CSV files and the summary.
        compare_raw: also cluster the raw inputs (same method, same k) and report their NMI / ARI.
        normalize: L2-normalise embeddings first; default on for text (cosine geometry).
        n_central: central examples written per cluster.
        overwrite: write into an existing, non-empty ``out`` (replacing only the three files).

    Returns:
        A JSON-ready report: ``embedding`` (k, silhouette, NMI, ARI, sizes), ``raw`` (the same for
        raw inputs, or None), ``central`` examples by name, and ``files`` written.
    """
    from graft._files import check_new_output
    from graft.api import DEFAULT_BACKBONE, as_dataset, embed
    from graft.api import backbone_options
    from graft.cluster.cluster import METHODS, check_settings, cluster_embeddings

    if out is not None:
        check_new_output(out, overwrite)
    # settings first: a typo must not cost the embedding of the whole dataset
    check_settings(k_range, seed, n_central)
    if method not in METHODS:
        raise UsageError(f"unknown clustering method {method!r}; use one of {', '.join(METHODS)}")
    if k is not None and k < 2:
        raise UsageError(f"k={k} is outside its allowed range [2, n_items - 1]")
    backbone_options(image_size)
    ds = as_dataset(data)
    if len(ds) < 3:
        raise UsageError(f"{ds.source}: clustering needs at least 3 items; found {len(ds)}")
    backbone = backbone or DEFAULT_BACKBONE
    X = embed(ds, backbone, weights=weights, image_size=image_size, allow_download=allow_download, progress=progress)
    normalize = (ds.modality == "text") if normalize is None else normalize
    y = _labels(ds)
    result = cluster_embeddings(X, method=method, k=k, k_range=k_range, seed=seed, y=y, n_central=n_central,  # type: ignore[arg-type]
                                normalize=normalize)
    raw = None
    if compare_raw and (R := raw_features(ds)) is not None:
        raw_k = None if method == "hdbscan" else max(2, result.k)
        raw = _summary(cluster_embeddings(R, method=method, k=raw_k, seed=seed, y=y, n_central=1))  # type: ignore[arg-type]
    report: dict[str, Any] = {
        "data": ds.source, "backbone": backbone, "n": len(ds), "labelled": y is not None,
        "embedding": _summary(result), "raw": raw,
        "central": {str(c): [_item_name(ds.items[i], i) for i in rows] for c, rows in result.central.items()},
    }
    if out is not None:
        report["files"] = _write(Path(out), ds, result, X if not normalize else _unit(X), report)
    return report


def _unit(X: np.ndarray) -> np.ndarray:
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def _write(out: Path, ds: "Dataset", result: "ClusterResult", X: np.ndarray, report: dict[str, Any]) -> list[str]:
    from graft._config import atomic_write_text, write_json

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "assignments.csv", assignments_csv(ds, result, X))
    atomic_write_text(out / "central.csv", central_csv(ds, result))
    write_json(out / "summary.json", {k: v for k, v in report.items() if k != "files"})
    return [str(out / name) for name in ("assignments.csv", "central.csv", "summary.json")]
