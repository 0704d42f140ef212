"""Boracchi & Foi random-trajectory motion-blur kernels.

A camera-shake trajectory is a 2-D random walk whose velocity is pulled by a
centripetal term (the hand returns), pushed by Gaussian jitter and, now and
then, flipped by a "big shake" (Boracchi & Foi, "Modeling the performance of
image restoration from motion blur", TIP 2012). The point-spread function is
the time the trajectory spends on each pixel, accumulated with sub-pixel
(bilinear) splatting over the exposure fraction.

Deviations from the original script, on purpose:

* **Kernel size means blur extent.** Each trajectory is rescaled so the longer
  side of its bounding box spans 70-100 % of ``k`` (a short path lost in a big
  canvas is not a size-27 blur). A path that cannot be centred on its centre of
  mass with that extent is rejected and redrawn.
* **Kernels sum to 1** (DeblurGAN v1's port min-max normalises them, which
  changes image brightness) and their centre of mass is the central pixel, so
  blurring does not shift the image.
* The random walks of a whole bank run as one vectorised loop over time steps,
  which is what makes an 800-kernel bank take well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The paper's kernel sizes: every odd size from 13 to 27.
PAPER_SIZES: tuple[int, ...] = tuple(range(13, 28, 2))


@dataclass(frozen=True)
class TrajectoryParams:
    """Knobs of the Boracchi-Foi random walk (their defaults)."""

    num_steps: int = 1000
    max_length: float = 60.0
    anxiety_max: float = 0.1
    centripetal_max: float = 0.7
    gaussian_max: float = 10.0
    big_shake_freq_max: float = 0.2
    min_extent: float = 0.7
    max_extent: float = 1.0
    min_exposure: float = 0.5


def random_trajectories(n: int, rng: np.random.Generator, p: TrajectoryParams = TrajectoryParams()) -> np.ndarray:
    """Return ``n`` random camera trajectories as complex arrays of shape (n, num_steps)."""
    steps = p.num_steps
    step_len = p.max_length / (steps - 1)
    anxiety = p.anxiety_max * rng.random(n)
    centripetal = p.centripetal_max * rng.random(n)
    gaussian = p.gaussian_max * rng.random(n)
    big_shake = p.big_shake_freq_max * rng.random(n)
    phi = 2 * np.pi * rng.random(n)
    v = np.exp(1j * phi) * step_len
    x = np.zeros((n, steps), dtype=np.complex128)
    # Draw all randomness up front: one array op per time step afterwards.
    shake_draw = rng.random((steps - 1, n))
    shake_angle = rng.random((steps - 1, n)) - 0.5
    jitter = rng.standard_normal((steps - 1, n)) + 1j * rng.standard_normal((steps - 1, n))
    for t in range(steps - 1):
        shake = shake_draw[t] < big_shake * anxiety
        next_dir = np.where(shake, 2 * v * np.exp(1j * (np.pi + shake_angle[t])), 0)
        dv = next_dir + anxiety * (gaussian * jitter[t] - centripetal * x[:, t]) * step_len
        v = v + dv
        v = v / np.maximum(np.abs(v), 1e-12) * step_len
        x[:, t + 1] = x[:, t] + v
    return x


def _splat(points: np.ndarray, size: int) -> np.ndarray:
    """Bilinear accumulation of sub-pixel points (x + iy) into a size x size PSF."""
    xs, ys = points.real, points.imag
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    psf = np.zeros(size * size)
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = np.clip(x0 + dx, 0, size - 1), np.clip(y0 + dy, 0, size - 1)
        psf += np.bincount(yi * size + xi, weights=w, minlength=size * size)
    return psf.reshape(size, size)


def _fit_to_canvas(traj: np.ndarray, size: int, extent: float) -> tuple[np.ndarray, float] | None:
    """Scale a trajectory to ``extent`` * size, centre its mean; return (points, shrink) or None if degenerate."""
    span = max(np.ptp(traj.real), np.ptp(traj.imag))
    if span < 1e-9:
        return None
    half = (size - 1) / 2
    pts = (traj - traj.mean()) * (min(extent * size, size - 1) / span)
    # Largest scale that keeps every point inside the canvas when centred on its mean
    # (a lopsided path cannot keep its full extent); reject if that makes it too short.
    reach = max(np.abs(pts.real).max(), np.abs(pts.imag).max())
    shrink = min(1.0, half / reach)
    return pts * shrink + complex(half, half), shrink


def trajectory_to_psf(
    traj: np.ndarray, size: int, extent: float, exposure: float, min_extent: float
) -> np.ndarray | None:
    """PSF of the first ``exposure`` fraction of a trajectory, or None if it fails the extent rule."""
    part = traj[: max(2, int(round(exposure * len(traj))))]
    fitted = _fit_to_canvas(part, size, extent)
    if fitted is None:
        return None
    pts, shrink = fitted
    if extent * shrink < min_extent:
        return None
    psf = _splat(pts, size)
    return psf / psf.sum()


def motion_kernels(
    size: int, n: int, rng: np.random.Generator, params: TrajectoryParams = TrajectoryParams()
) -> np.ndarray:
    """Draw ``n`` kernels of odd ``size``: (n, size, size) float32, each >= 0 and summing to 1."""
    if size < 3 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and >= 3, got {size}")
    out: list[np.ndarray] = []
    while len(out) < n:
        need = n - len(out)
        trajs = random_trajectories(need, rng, params)
        extents = rng.uniform(params.min_extent, params.max_extent, need)
        exposures = rng.uniform(params.min_exposure, 1.0, need)
        for traj, ext, exp in zip(trajs, extents, exposures):
            psf = trajectory_to_psf(traj, size, ext, exp, params.min_extent)
            if psf is not None:
                out.append(psf.astype(np.float32))
    return np.stack(out[:n])


def motion_kernel(size: int, rng: np.random.Generator) -> np.ndarray:
    """One random kernel of odd ``size`` (k x k float32, sums to 1, centred)."""
    return motion_kernels(size, 1, rng)[0]


@dataclass
class KernelBank:
    """A fixed set of kernels, grouped by size, as the paper's 800-kernel bank."""

    kernels: list[np.ndarray]
    sizes: np.ndarray
    seed: int

    @classmethod
    def generate(cls, count: int = 800, sizes: tuple[int, ...] = PAPER_SIZES, seed: int = 0) -> KernelBank:
        """Spread ``count`` kernels evenly over ``sizes`` (earlier sizes get the remainder)."""
        rng = np.random.default_rng(seed)
        kernels: list[np.ndarray] = []
        size_of: list[int] = []
        for i, k in enumerate(sizes):
            m = count // len(sizes) + (1 if i < count % len(sizes) else 0)
            kernels.extend(motion_kernels(k, m, rng))
            size_of.extend([k] * m)
        return cls(kernels, np.asarray(size_of, dtype=np.int32), seed)

    def __len__(self) -> int:
        return len(self.kernels)

    def indices_of_size(self, size: int) -> np.ndarray:
        return np.flatnonzero(self.sizes == size)

    def save(self, path) -> None:
        """Save as .npz: one array per kernel (sizes differ) plus sizes and seed."""
        arrays: dict[str, np.ndarray] = {f"k{i:05d}": k for i, k in enumerate(self.kernels)}
        arrays.update(sizes=self.sizes, seed=np.asarray(self.seed, np.int64))
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]  # numpy stubs type **kwds as bool

    @classmethod
    def load(cls, path) -> KernelBank:
        with np.load(path) as z:
            sizes = z["sizes"]
            kernels = [z[f"k{i:05d}"] for i in range(len(sizes))]
            return cls(kernels, sizes, int(z["seed"]))

    def contact_sheet(self, columns: int = 40, cell: int = 29) -> np.ndarray:
        """A uint8 grid image of all kernels (each scaled to its own max) for a person to look at."""
        rows = (len(self) + columns - 1) // columns
        sheet = np.zeros((rows * cell, columns * cell), dtype=np.uint8)
        for i, k in enumerate(self.kernels):
            r, c = divmod(i, columns)
            s = k.shape[0]
            o = (cell - s) // 2
            sheet[r * cell + o : r * cell + o + s, c * cell + o : c * cell + o + s] = np.uint8(255 * k / k.max())
        return sheet
