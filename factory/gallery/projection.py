"""2-D projection of defect features and its plot (matplotlib Agg, written as PNG).

The projection is fitted on the training distribution (real train + synthetic) only; real
test crops are projected into it afterwards, so the test set never shapes the axes. PCA by
default; UMAP when the ``umap`` package is importable and asked for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pca_fit(
    x: np.ndarray, components: int = 2, iterations: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and ``(components, D)`` principal axes of ``x`` (sign fixed for determinism).

    Power iteration with deflation on the covariance: the matrices are tiny, and LAPACK's
    threaded SVD/eigh took seconds each on a busy 2-core machine (thread contention).
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    cov = np.einsum("ni,nj->ij", centred, centred) / max(1, len(x) - 1)
    dim = cov.shape[0]
    axes: list[np.ndarray] = []
    for _ in range(components):
        v = np.linspace(1.0, 2.0, dim)
        v /= np.linalg.norm(v)
        for _ in range(iterations):
            w = cov @ v
            for axis in axes:
                w -= (w @ axis) * axis
            norm = np.linalg.norm(w)
            if norm < 1e-12:  # no variance left: a zero axis
                v = np.zeros(dim)
                break
            v = w / norm
        if v[np.abs(v).argmax()] < 0:
            v = -v
        axes.append(v)
    return mean, np.array(axes)


def umap_available() -> bool:
    try:
        import umap  # noqa: F401
    except ImportError:
        return False
    return True


def project_2d(
    fit_sets: list[np.ndarray], other_sets: list[np.ndarray], *, method: str = "pca", seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """Fit on ``fit_sets`` and project them and ``other_sets``; returns (fitted, others, method)."""
    fit = np.concatenate([s for s in fit_sets if len(s)])
    if method == "umap" and umap_available() and len(fit) >= 10:
        import umap

        reducer = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, len(fit) - 1))
        reducer.fit(fit)
        transform = reducer.transform
        used = "umap"
    else:
        mean, axes = pca_fit(fit)

        def transform(x):
            return (x - mean) @ axes.T

        used = "pca"

    def apply(sets):
        return [transform(s) if len(s) else np.zeros((0, 2)) for s in sets]

    return apply(fit_sets), apply(other_sets), used


def plot_projection(
    path: Path,
    title: str,
    sets: list[tuple[str, np.ndarray, str, str]],
    method: str,
) -> Path:
    """Scatter ``(label, points, colour, marker)`` sets into a PNG at ``path``."""
    # A bare Figure renders with the Agg canvas and never touches pyplot's global backend.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2, 3.6), dpi=100)
    axes = figure.add_subplot(1, 1, 1)
    for label, points, colour, marker in sets:
        if len(points):
            axes.scatter(
                points[:, 0],
                points[:, 1],
                s=12,
                c=colour,
                marker=marker,
                alpha=0.6,
                label=f"{label} ({len(points)})",
                linewidths=0,
            )
    # '$' would switch matplotlib to mathtext; class names are plain text.
    axes.set_title(title.replace("$", r"\$"), fontsize=9)
    axes.set_xlabel(f"{method.upper()} 1", fontsize=8)
    axes.set_ylabel(f"{method.upper()} 2", fontsize=8)
    axes.tick_params(labelsize=7)
    if any(len(p) for _, p, _, _ in sets):
        axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", metadata={"Software": None})
    return path
