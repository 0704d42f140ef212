"""Temporal stability and speed of video deblurring.

1. The real paired frames (../shared/data/real_blur/paired/vd001: blurry video frames and their sharp
   counterparts) are assembled into a clip, deblurred with `deblur_video`, and scored:
   flicker = mean |frame_t - frame_t-1| of the output / the same for the input (<= 1.1: we add no
   flicker), and per-frame PSNR/SSIM of input and output against the sharp frames.
2. Speed: frames/s on a 640x360 clip of the bundled public-domain face moving across the frame (11 px
   horizontal motion blur); ``--strip`` writes before/after frames of it (no research faces in the README).

    python benchmarks/video_stability.py --frames ../shared/data/real_blur/paired/vd001 --out runs/video
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from faceblur_cli.deblurrer import Deblurrer
from faceblur_cli.imageio import list_images, read_rgb
from faceblur_cli.metrics import psnr, ssim
from faceblur_cli.video import deblur_video


def write_clip(frames: list[np.ndarray], path: Path, fps: int = 25) -> None:
    """Near-lossless H.264 (crf 4) of RGB frames, padded to even sides for yuv420p."""
    import av

    h, w = frames[0].shape[:2]
    ph, pw = h % 2, w % 2
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt, vs.options = w + pw, h + ph, "yuv420p", {"crf": "4"}
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.pad(f, ((0, ph), (0, pw), (0, 0)), mode="edge"), format="rgb24")
            frame.pts = i
            for p in vs.encode(frame):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)


def read_clip(path: Path, h: int, w: int) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24")[:h, :w] for f in c.decode(video=0)]


def write_strip(inp: list[np.ndarray], out: list[np.ndarray], path: Path, width: int = 240) -> None:
    """Rows: input, deblurred; columns: three frames, each cropped to the moving face (public-domain clip)."""
    from PIL import Image

    idx = np.linspace(0, len(inp) - 1, 3).round().astype(int)
    h, w = inp[0].shape[:2]
    rows = []
    for frames in (inp, out):
        tiles = []
        for i in idx:
            x = int((w - width) * i / max(len(inp) - 1, 1))
            tiles += [frames[i][:, x : x + width], np.full((h, 4, 3), 255, np.uint8)]
        rows.append(np.concatenate(tiles[:-1], 1))
    strip = np.concatenate([rows[0], np.full((4, rows[0].shape[1], 3), 255, np.uint8), rows[1]], 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(strip).save(path, quality=90)


def flicker(frames: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(a.astype(np.int16) - b).mean() for a, b in zip(frames[1:], frames[:-1])]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=Path, default=Path("../shared/data/real_blur/paired/vd001"))
    ap.add_argument("--out", type=Path, default=Path("runs/video"))
    ap.add_argument("--model", default="default")
    ap.add_argument("--smooth", type=float, nargs="+", default=[0.0, 0.6])
    ap.add_argument("--speed-frames", type=int, default=100)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--strip", type=Path, default=None, help="also write a before/after strip of frames here")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    engine = Deblurrer(args.model, device="cpu", threads=args.threads)
    blurry = [read_rgb(p) for p in list_images(args.frames / "blurry")]
    sharp = [read_rgb(p) for p in list_images(args.frames / "sharp")]
    h, w = blurry[0].shape[:2]
    src = args.out / "real_blurry.mp4"
    write_clip(blurry, src)
    inp = read_clip(src, h, w)
    result = {
        "clip": str(args.frames),
        "frames": len(inp),
        "model": engine.model_name,
        "input": {
            "flicker": flicker(inp),
            "psnr": float(np.mean([psnr(s, f) for s, f in zip(sharp, inp)])),
            "ssim": float(np.mean([ssim(s, f) for s, f in zip(sharp, inp)])),
        },
    }
    # strength 0 runs the same pipeline with nothing changed: the codec's own loss (a second
    # RGB -> yuv420p round trip costs about 0.5 dB on these frames), the baseline for the rest.
    runs = {"codec round trip (strength 0)": {"strength": 0.0}}
    runs.update({f"smooth={sm}": {"smooth": sm} for sm in args.smooth})
    for name, kw in runs.items():
        dst = args.out / f"real_{len(result)}.mp4"
        deblur_video(engine, src, dst, crf=4, **kw)
        out = read_clip(dst, h, w)
        result[name] = {
            "flicker": flicker(out),
            "flicker_ratio": flicker(out) / result["input"]["flicker"],
            "psnr": float(np.mean([psnr(s, f) for s, f in zip(sharp, out)])),
            "ssim": float(np.mean([ssim(s, f) for s, f in zip(sharp, out)])),
            "psnr_per_frame": [round(psnr(s, f), 3) for s, f in zip(sharp, out)],
        }
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_video import make_clip

    clip = args.out / "speed_640x360.mp4"
    make_clip(clip, frames=args.speed_frames, size=(640, 360), fps=25, audio=True, blur=11)
    t0 = time.perf_counter()
    report = deblur_video(engine, clip, args.out / "speed_out.mp4")
    if args.strip is not None:
        write_strip(read_clip(clip, 360, 640), read_clip(args.out / "speed_out.mp4", 360, 640), args.strip)
    result["speed"] = {
        "size": "640x360",
        "frames": report.frames,
        "frames_per_s": report.frames / (time.perf_counter() - t0),
        "threads": engine.threads,
    }
    (args.out / "video_stability.json").write_text(json.dumps(result, indent=2))
    print(f"real clip {args.frames} ({len(inp)} frames), {engine.model_name}: PSNR / SSIM vs sharp, flicker")
    print(f"  input                        {result['input']['psnr']:.2f} / {result['input']['ssim']:.4f}")
    for name in runs:
        r = result[name]
        print(f"  {name:<28} {r['psnr']:.2f} / {r['ssim']:.4f}   flicker x{r['flicker_ratio']:.3f}")
    sp = result["speed"]
    print(f"speed: {sp['frames_per_s']:.1f} frames/s ({sp['size']}, {sp['frames']} frames, {sp['threads']} threads)")


if __name__ == "__main__":
    main()
