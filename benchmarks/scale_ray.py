"""Photos per second for the local engine and for Ray on this machine, and where a photo's time goes.

    python benchmarks/scale_ray.py [--photos 200] [--cpus 2] [--out docs/bench/scale_ray]

The folder: ``--photos`` 1920x1080 JPEGs, each with two faces (the bundled public-domain
astronaut, mirrored for the second, 230-300 px wide, horizontally blurred 5 px) on a
gradient, so no face data is needed. Measured in one run, on the same photos:

* **stages**: ms per photo for decode, detect (+ YuNet check), align, network, paste, encode,
  in this process (the local engine's own order), over the first 20 photos;
* **aligned**: the same faces as 256x256 aligned crops through ``mode="aligned"`` (the network's
  floor), then the **local** engine over the folder and **ray** (a local instance with ``--cpus``
  CPUs, started once; every run starts its own actor pools, and that start-up is in its time),
  alternating ``--repeat`` times: this machine's speed drifts by 10-20 % from minute to minute, so
  the ratio is taken within each pair and the median pair reported, with the range.

Writes results.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from statistics import median

import cv2
import numpy as np

from faceblur_cli import batch
from faceblur_cli.deblurrer import Deblurrer
from faceblur_cli.imageio import encode_image, load_image, read_rgb
from faceblur_cli.pipeline import align_faces, finish, network, prepare

REPO = Path(__file__).resolve().parents[1]
FACE = read_rgb(REPO / "faceblur_cli/assets/examples/astronaut_sharp.png")


def make_photos(folder: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    h, w = 1080, 1920
    ramp = np.linspace(60, 200, w, dtype=np.float32)[None, :, None]
    for i in range(n):
        img = np.broadcast_to(ramp + rng.uniform(-30, 30, (1, 1, 3)), (h, w, 3)).astype(np.uint8).copy()
        for k, x0 in enumerate((int(rng.integers(60, 400)), int(rng.integers(1000, 1340)))):
            side = int(rng.integers(420, 540))  # the photo is ~2x the face: faces 230-300 px wide
            face = cv2.resize(FACE[:, ::-1] if k else FACE, (side, side), interpolation=cv2.INTER_AREA)
            y0 = int(rng.integers(60, h - side - 60))
            img[y0 : y0 + side, x0 : x0 + side] = face
        img = cv2.blur(img, (5, 1))
        (folder / f"photo{i:04d}.jpg").write_bytes(encode_image(img, ".jpg", quality=90))


def stage_profile(d: Deblurrer, photos: list[Path]) -> dict:
    """Median ms per photo of each stage, run as the local engine runs them."""
    times: dict = {k: [] for k in ("decode", "detect", "align", "network", "paste", "encode")}
    for p in photos:
        t0 = time.perf_counter()
        loaded = load_image(p)
        times["decode"].append(time.perf_counter() - t0)
        prep = prepare(d.finder, loaded.rgb, "faces", "whole", False, d.min_face_scale)
        times["detect"].append(prep.timings["detect"])
        times["align"].append(prep.timings["align"])
        ((base, restored),) = network(d, [prep])
        times["network"].append(prep.timings["network"])
        t0 = time.perf_counter()
        result = finish(prep, base, restored, 1.0)
        times["paste"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        encode_image(result.image, ".jpg", loaded)
        times["encode"].append(time.perf_counter() - t0)
    return {k: round(float(np.median(v)) * 1000, 1) for k, v in times.items()}


def aligned_crops(d: Deblurrer, photos: list[Path], folder: Path) -> int:
    """The photos' faces as the aligned crops the local engine cuts (same sizes: the network's floor)."""
    n = 0
    for p in photos:
        rgb = load_image(p).rgb
        ((_, crops),) = align_faces([rgb], [[f.landmarks for f in d.detect(rgb)]], d.min_face_scale, defaultdict(float))
        for crop in crops:
            (folder / f"face{n:05d}.png").write_bytes(encode_image(crop, ".png"))
            n += 1
    return n


def timed_run(d: Deblurrer, src: Path, out: Path, opts: batch.BatchOptions, **kw) -> tuple[float, float, batch.Summary]:
    """(seconds for the run, photos/s between its first and last result, summary)."""
    shutil.rmtree(out, ignore_errors=True)
    jobs = batch.plan_many([src], out, opts)
    stamps: list = []
    t0 = time.perf_counter()
    summary = batch.run(d, jobs, opts, lambda _s, _f: stamps.append(time.perf_counter()), **kw)
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return time.perf_counter() - t0, steady, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out", type=Path, default=None, help="folder for results.json")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="local/ray pairs (medians reported)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="faceblur-scale-"))
    try:
        (work / "photos").mkdir()
        make_photos(work / "photos", args.photos)
        photos = sorted((work / "photos").iterdir())
        d = Deblurrer("faceblur-lite", device="cpu", backend="torch", threads=args.cpus)
        d.restore(load_image(photos[0]).rgb)  # warm-up
        stages = stage_profile(d, photos[:20])
        (work / "crops").mkdir()
        faces = aligned_crops(d, photos, work / "crops")
        t_aligned, _, _ = timed_run(d, work / "crops", work / "o_aligned", batch.BatchOptions(mode="aligned"))
        opts = batch.BatchOptions()
        if not args.skip_ray:
            import ray

            t0 = time.perf_counter()
            ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
            t_init = time.perf_counter() - t0
        pairs = []
        for _ in range(args.repeat if not args.skip_ray else 1):
            local = timed_run(d, work / "photos", work / "o_local", opts)
            remote = timed_run(d, work / "photos", work / "o_ray", opts, engine="ray") if not args.skip_ray else None
            pairs.append((local, remote))
            if remote:
                print(f"local {local[0]:.2f} s, ray {remote[0]:.2f} s: {local[0] / remote[0]:.3f}x", flush=True)
        t_local = median([lo[0] for lo, _ in pairs])
        res = {
            "photos": args.photos,
            "faces": faces,
            "cpus": args.cpus,
            "ms_per_photo_by_stage": stages,
            "aligned_s": round(t_aligned, 2),
            "local_s": round(t_local, 2),
            "local_photos_per_s": round(args.photos / t_local, 2),
            "local_steady_photos_per_s": round(median([lo[1] for lo, _ in pairs]), 2),
            "folder_vs_aligned": round(t_local / t_aligned, 2),
            "local_faces": pairs[0][0][2].faces,
        }
        if not args.skip_ray:
            ray.shutdown()
            same = all(
                (work / "o_local" / p.name).read_bytes() == (work / "o_ray" / p.name).read_bytes() for p in photos
            )
            t_ray, steady = median([r[0] for _, r in pairs]), median([r[1] for _, r in pairs])
            ratios = sorted(lo[0] / r[0] for lo, r in pairs)
            res.update(
                repeat=args.repeat,
                ray_init_s=round(t_init, 2),
                ray_s=round(t_ray, 2),
                ray_photos_per_s=round(args.photos / t_ray, 2),
                ray_steady_photos_per_s=round(steady, 2),
                ray_startup_s=round(median([r[0] - (args.photos - 1) / r[1] for _, r in pairs]), 2),
                ray_vs_local=round(median(ratios), 3),
                ray_vs_local_range=[round(ratios[0], 3), round(ratios[-1], 3)],
                ray_vs_local_first_pair=round(pairs[0][0][0] / pairs[0][1][0], 3),
                ray_faces=pairs[0][1][2].faces,
                ray_same_bytes=same,
            )
        print(json.dumps(res, indent=1))
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "results.json").write_text(json.dumps(res, indent=1) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
