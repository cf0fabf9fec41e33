"""The 2-D map of the artists: a neighbour-preserving layout computed when a model is trained.

A small numpy neighbour embedding in the family of UMAP / LargeVis (no numba, no extra
dependency; cheap enough to run inside every training):

1. exact k-nearest neighbours of the (unit) artist vectors, in row blocks (bounded memory);
2. fuzzy neighbour weights ``exp(-(d - rho_i) / sigma_i)`` with ``sigma_i`` chosen so that each
   point's weights sum to ``log2(k)``, symmetrised as a fuzzy union ``a + b - a*b``;
3. start from the first two principal components (so the global arrangement is PCA's), then
   full-batch gradient steps: every neighbour pair attracts with a Cauchy kernel
   ``1 / (1 + d^2)``, every point is pushed away from a few random points per step (negative
   sampling); the first steps exaggerate attraction so that clusters gather before they spread.

Distances on the map mean something only locally: neighbours on the map are neighbours in the
64-D space (measured by trustworthiness in ``bench/map.py``), far-apart islands are merely
"different". Above :data:`MAX_EXACT` artists the layout is computed on an evenly drawn sample and
the others are placed among their nearest sampled neighbours (:func:`place_points`), so the
cost stays bounded on a Raspberry Pi.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Above this many points the embedding runs on a sample of this size.
MAX_EXACT = 20_000
#: Most rows per block of the k-NN search.
BLOCK = 512
#: Distances held at once by the k-NN search (float32 values: 8 MB), which sets the rows per
#: block against a large reference set (104 rows against the 20,000 points of a sampled map).
BLOCK_VALUES = 1 << 21
#: Longest step a point may take per iteration (map units before scaling).
MAX_STEP = 5.0
#: Map coordinates are scaled into [-SPAN, SPAN] on the wider axis.
SPAN = 1.0


def knn(
    X: np.ndarray, k: int, *, ref: np.ndarray | None = None, block: int = BLOCK
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by Euclidean distance.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d), float32] query points
    k : int neighbours per point (``k < len(ref)``)
    ref : np.ndarray [shape=(m, d), float32] points searched; default ``X`` itself, in which case
        a point is never its own neighbour.

    Returns
    -------
    idx : np.ndarray [shape=(n, k), int64] neighbour rows, nearest first
    dist : np.ndarray [shape=(n, k), float32] their distances
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    self_search = ref is None
    R = X if ref is None else np.ascontiguousarray(ref, dtype=np.float32)
    n, m = len(X), len(R)
    if not 0 < k < m + (0 if self_search else 1):
        raise ValueError(f"k must be in 1..{m - 1 if self_search else m}, got {k}")
    sq_r = np.einsum("ij,ij->i", R, R)
    sq_x = sq_r if self_search else np.einsum("ij,ij->i", X, X)
    # |x - r|^2 = |x|^2 + (|r|^2 - 2 x.r): a row's order needs only the bracket, so |x|^2 is
    # added to the few kept values only (two passes over each block instead of four)
    R2T = np.ascontiguousarray((-2.0 * R).T)
    idx = np.empty((n, k), np.int64)
    dist = np.empty((n, k), np.float32)
    block = max(16, min(block, BLOCK_VALUES // max(m, 1)))
    n_sub = max(1024, 64 * k)
    subset = np.linspace(0, m - 1, n_sub).astype(np.int64) if m > 2 * n_sub else None
    for s in range(0, n, block):
        e = min(n, s + block)
        D = X[s:e] @ R2T
        D += sq_r[None, :]
        if self_search:
            D[np.arange(e - s), np.arange(s, e)] = np.inf
        # The k-th smallest distance among a subset of the columns bounds the true k-th from
        # above, so the mask below keeps every true neighbour (and ~k * m / len(cols) rows);
        # np.partition on a few columns + a mask is several times faster than argpartition.
        cols = D[:, subset] if subset is not None else D
        kth = np.partition(cols, k - 1, axis=1)[:, k - 1 : k]
        r, c = np.nonzero(D <= kth)
        dv = D[r, c] + sq_x[s + r]
        order = np.lexsort((c, dv, r))  # by row, then distance, ties by index
        r, c, dv = r[order], c[order], dv[order]
        pos = np.arange(len(r)) - np.searchsorted(r, r)
        keep = pos < k  # ties at the k-th distance: the lowest indices
        idx[s + r[keep], pos[keep]] = c[keep]
        dist[s + r[keep], pos[keep]] = np.sqrt(np.maximum(dv[keep], 0.0))
    return idx, dist


def _perplexity_weights(dist: np.ndarray, perplexity: float) -> np.ndarray:
    """t-SNE conditional probabilities over each row's neighbours (binary search on the
    Gaussian precision until the entropy is ``log(perplexity)``); rows sum to 1."""
    n, _ = dist.shape
    d2 = dist.astype(np.float64) ** 2
    d2 -= d2[:, :1]
    target = np.log(perplexity)
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    beta = np.ones(n)
    for _ in range(64):
        P = np.exp(-d2 * beta[:, None])
        total = P.sum(axis=1)
        entropy = np.log(total) + beta * (d2 * P).sum(axis=1) / total
        wide = entropy > target  # too flat: sharpen
        lo = np.where(wide, beta, lo)
        hi = np.where(wide, hi, beta)
        beta = np.where(np.isinf(hi), beta * 2.0, (lo + hi) / 2.0)
    P = np.exp(-d2 * beta[:, None])
    out: np.ndarray = P / P.sum(axis=1, keepdims=True)
    return out


def _pca2(X: np.ndarray) -> np.ndarray:
    Xc = X - X.mean(axis=0)
    cov = (Xc.T @ Xc).astype(np.float64)  # d x d: cheap for any n
    _, vecs = np.linalg.eigh(cov)
    Y = Xc @ vecs[:, ::-1][:, :2]
    if Y.shape[1] < 2:
        Y = np.column_stack([Y, np.zeros((len(Y), 2 - Y.shape[1]))])
    out: np.ndarray = Y
    return out


def _scale(Y: np.ndarray) -> np.ndarray:
    """Centre, and scale the wider axis to [-SPAN, SPAN]."""
    Y = Y - (Y.max(axis=0) + Y.min(axis=0)) / 2.0
    half = float(np.abs(Y).max()) if len(Y) else 0.0
    return (Y * (SPAN / half) if half > 0 else Y).astype(np.float32)


def _corners(
    Y: np.ndarray, lo: np.ndarray, h: float, g: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Cloud-in-cell weights: the 4 grid nodes around each point and their bilinear weights."""
    U = (Y - lo) / h
    i0 = np.clip(np.floor(U).astype(np.int64), 0, g - 2)
    f = U - i0
    cells: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for dx in (0, 1):
        for dy in (0, 1):
            cells.append((i0[:, 0] + dx) * g + (i0[:, 1] + dy))
            weights.append((f[:, 0] if dx else 1 - f[:, 0]) * (f[:, 1] if dy else 1 - f[:, 1]))
    return cells, weights


def _repulsion(Y: np.ndarray, *, max_grid: int) -> tuple[np.ndarray, float]:
    """t-SNE's repulsive forces ``sum_j w_ij^2 (y_i - y_j)`` and ``Z = sum_{i!=j} w_ij``
    (``w = 1 / (1 + d^2)``), by interpolation on a grid and FFT convolution (FIt-SNE's idea with
    bilinear interpolation): O(n + G^2 log G) per step instead of O(n^2)."""
    n = len(Y)
    lo = Y.min(axis=0)
    extent = float((Y.max(axis=0) - lo).max())
    g = int(np.clip(np.ceil(extent / 0.5), 16, max_grid))  # grid step <= 0.5 when it fits
    h = max(extent / (g - 1.001), 1e-12)
    cells, weights = _corners(Y, lo, h, g)

    def deposit(q: np.ndarray) -> np.ndarray:
        total: np.ndarray = sum(  # type: ignore[assignment]  # (never empty: 4 corners)
            np.bincount(c, w * q, g * g) for c, w in zip(cells, weights, strict=True)
        )
        return total

    def gather(field: np.ndarray) -> np.ndarray:
        flat = field.ravel()
        total: np.ndarray = sum(flat[c] * w for c, w in zip(cells, weights, strict=True))
        return total

    offsets = np.arange(-g + 1, g) * h
    r2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    shape = (2 * g, 2 * g)
    k1 = np.zeros(shape)
    k1[: 2 * g - 1, : 2 * g - 1] = 1.0 / (1.0 + r2)
    k2 = np.zeros(shape)
    k2[: 2 * g - 1, : 2 * g - 1] = k1[: 2 * g - 1, : 2 * g - 1] ** 2
    f1, f2 = np.fft.rfft2(k1), np.fft.rfft2(k2)
    rho = np.fft.rfft2(deposit(np.ones(n)).reshape(g, g), shape)
    out = []
    for charge, kernel in (
        (rho, f1),
        (rho, f2),
        (np.fft.rfft2(deposit(Y[:, 0]).reshape(g, g), shape), f2),
        (np.fft.rfft2(deposit(Y[:, 1]).reshape(g, g), shape), f2),
    ):
        full = np.fft.irfft2(charge * kernel, shape)
        out.append(gather(full[g - 1 : 2 * g - 1, g - 1 : 2 * g - 1]))
    phi1, phi2, psi_x, psi_y = out
    # Minus each point's interaction with itself as the grid sees it (not exactly w_ii = 1: the
    # interpolation smooths it; it matters when n is small against the number of pairs).
    node = np.array([(0, 0), (0, 1), (1, 0), (1, 1)])
    self_w = sum(
        weights[a] * weights[b] / (1.0 + h * h * float(((node[a] - node[b]) ** 2).sum()))
        for a in range(4)
        for b in range(4)
    )
    z = max(float(phi1.sum() - self_w.sum()), 1e-12)
    force = Y * phi2[:, None] - np.column_stack([psi_x, psi_y])
    return force, z


def _attraction(Y: np.ndarray, head: np.ndarray, tail: np.ndarray, p: np.ndarray) -> np.ndarray:
    """t-SNE's attractive forces ``sum_j p_ij w_ij (y_i - y_j)`` over the pairs ``head < tail``
    (each symmetric pair once; ``w = 1 / (1 + d^2)``), on contiguous coordinate columns."""
    n = len(Y)
    x, y = np.ascontiguousarray(Y[:, 0]), np.ascontiguousarray(Y[:, 1])
    dx = x.take(head)
    dx -= x.take(tail)
    dy = y.take(head)
    dy -= y.take(tail)
    q = dx * dx
    q += dy * dy
    q += 1.0
    np.divide(p, q, out=q)
    dx *= q
    dy *= q
    fx = np.bincount(head, dx, n)
    fx -= np.bincount(tail, dx, n)
    fy = np.bincount(head, dy, n)
    fy -= np.bincount(tail, dy, n)
    return np.column_stack([fx, fy])


def map_layout(
    X: np.ndarray,
    *,
    perplexity: float = 10.0,
    n_iter: int = 200,
    early_iter: int = 50,
    exaggeration: float = 2.0,
    max_grid: int = 96,
    seed: int = 0,
) -> np.ndarray:
    """2-D coordinates of the rows of ``X`` that keep neighbours together (t-SNE).

    Parameters
    ----------
    X : np.ndarray [shape=(n, d), float32] artist vectors (unit length, so Euclidean order is
        cosine order)
    perplexity : effective number of neighbours each point keeps (``3 * perplexity`` are used)
    n_iter : gradient steps in all; the first ``early_iter`` with attraction × ``exaggeration``
    max_grid : grid nodes per axis of the repulsion estimate (cost ~ max_grid² log max_grid)
    seed : random seed (the result is deterministic for a given seed and input)

    Returns
    -------
    Y : np.ndarray [shape=(n, 2), float32] centred, the wider axis spanning [-1, 1]
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    n = len(X)
    rng = np.random.default_rng(seed)
    if n <= 3:
        return _scale(np.column_stack([np.arange(n, dtype=np.float64), np.zeros(n)]))
    if n > MAX_EXACT:
        sample = np.sort(rng.choice(n, MAX_EXACT, replace=False))
        Ys = map_layout(
            X[sample],
            perplexity=perplexity,
            n_iter=n_iter,
            early_iter=early_iter,
            exaggeration=exaggeration,
            max_grid=max_grid,
            seed=seed,
        )
        rest = np.setdiff1d(np.arange(n), sample)
        Y: np.ndarray = np.empty((n, 2), np.float32)
        Y[sample] = Ys
        Y[rest] = place_points(X[rest], X[sample], Ys)
        return Y
    perplexity = min(perplexity, (n - 1) / 3.0)
    k = min(n - 1, max(2, int(round(3 * perplexity))))
    idx, dist = knn(X, k)
    P = _perplexity_weights(dist, perplexity).ravel()
    A = sp.coo_matrix((P, (np.repeat(np.arange(n), k), idx.ravel())), shape=(n, n)).tocsr()
    A = ((A + A.T) / (2.0 * n)).tocoo()  # symmetric joint probabilities, sum 1
    # A is symmetric (a_ij + a_ji summed in either order is the same float): each pair is kept
    # once (i < j) and its force applied to both ends, half the gathers of the full edge list
    once = A.row < A.col
    head, tail, p = A.row[once].astype(np.int64), A.col[once].astype(np.int64), A.data[once]
    Y = _pca2(X)
    spread = float(Y[:, 0].std())
    Y = Y * (1e-4 / spread) if spread > 0 else rng.normal(0.0, 1e-4, size=(n, 2))
    Y += rng.normal(0.0, 1e-6, size=Y.shape)  # separates exact duplicates
    rate = max(n / exaggeration, 50.0)
    update = np.zeros_like(Y)
    gains = np.ones_like(Y)
    for it in range(n_iter):
        early = it < early_iter
        attract = _attraction(Y, head, tail, p)
        repel, z = _repulsion(Y, max_grid=max_grid)
        grad = 4.0 * ((exaggeration if early else 1.0) * attract - repel / z)
        # delta-bar-delta gains and momentum, as in the reference t-SNE
        same = np.sign(grad) == np.sign(update)
        gains = np.where(same, gains * 0.8, gains + 0.2)
        np.maximum(gains, 0.01, out=gains)
        update = (0.5 if early else 0.8) * update - rate * gains * grad
        # steps longer than MAX_STEP are shortened (as openTSNE does): with momentum and gains,
        # groups without neighbours elsewhere (duplicates, tiny libraries) would otherwise fly off
        norm = np.sqrt(np.einsum("ij,ij->i", update, update))
        update *= np.minimum(1.0, MAX_STEP / np.maximum(norm, 1e-12))[:, None]
        Y = Y + update
    return _scale(Y)


def place_points(
    X: np.ndarray, ref: np.ndarray, ref_xy: np.ndarray, *, k: int = 5, pull: float = 0.1
) -> np.ndarray:
    """Map positions for new points among already placed ones (no re-layout).

    Each row of ``X`` [shape=(n, d)] lands beside the map position of its nearest row of ``ref``
    [shape=(m, d)] (positions ``ref_xy`` [shape=(m, 2)]), moved ``pull`` of the way towards the
    inverse-distance weighted mean of its ``k`` nearest: close enough that the dot drawn next to
    it is a true neighbour (a mean alone can fall into a gap beside another cluster), apart
    enough not to hide it. Returns [shape=(n, 2), float32].
    """
    if len(X) == 0:
        return np.empty((0, 2), np.float32)
    if len(ref) == 0:
        return np.zeros((len(X), 2), np.float32)
    k = min(k, len(ref))
    idx, dist = knn(X, k, ref=ref)
    w = 1.0 / (dist.astype(np.float64) + 1e-6)
    w /= w.sum(axis=1, keepdims=True)
    xy = np.asarray(ref_xy, np.float64)
    mean: np.ndarray = np.einsum("nk,nkc->nc", w, xy[idx])
    nearest = xy[idx[:, 0]]
    out: np.ndarray = nearest + pull * (mean - nearest)
    return out.astype(np.float32)
