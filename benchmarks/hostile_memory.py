"""Peak memory of `faceblur deblur` on the hostile round's large inputs (issue 29), each in a fresh process.

python benchmarks/hostile_memory.py [--threads 1]
Builds in a temp folder: an 89 MP photo with a large face, a 40 MP one, a 12000 x 12000 video, a TIFF
whose header claims 16000 x 16000 float RGB, a 1.3 KB weights file asking for width 2048; prints
peak RSS and the outcome of each run.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import tiff_with_header_size  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "faceblur_cli" / "assets" / "examples" / "astronaut_sharp.png"
# VmHWM (this process's own peak; ru_maxrss would carry the parent's peak across exec)
RUN = (
    "import sys\nfrom faceblur_cli.cli import main_argv\nrc = main_argv(sys.argv[1:])\n"
    "hwm = next(int(ln.split()[1]) for ln in open('/proc/self/status') if ln.startswith('VmHWM'))\n"
    "print(f'RSS {hwm / 1024:.0f} MB exit {rc}', file=sys.stderr)\n"
)


def photo(path: Path, w: int, h: int, face: int) -> Path:
    img = Image.new("RGB", (w, h), (120, 110, 100))
    img.paste(Image.open(EXAMPLE).convert("RGB").resize((face, face)), (w // 3, h // 4))
    img.save(path, quality=85)
    return path


def video(path: Path, side: int, frames: int = 9) -> Path:
    import av

    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=10)
        vs.options = {"preset": "ultrafast"}
        vs.width = vs.height = side
        vs.pix_fmt = "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((side, side, 3), np.uint8), format="rgb24")
        for i in range(frames):
            frame.pts = i
            for p in vs.encode(frame):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1")
    args = ap.parse_args()
    import cv2
    import torch

    d = Path(tempfile.mkdtemp())
    small = d / "small.tif"
    cv2.imwrite(str(small), np.zeros((8, 8, 3), np.float32))
    tiff_with_header_size(small, d / "bomb.tif", 16000, 16000)
    torch.save({"format": "faceblur-generator-v1", "config": {"width": 2048}, "state_dict": {}}, d / "bad.pth")
    cases = [
        ("89 MP photo, face mode", [photo(d / "p89.jpg", 11000, 8100, 3000), "-o", d / "o89.jpg"]),
        ("40 MP photo, face mode", [photo(d / "p40.jpg", 7800, 5200, 2400), "-o", d / "o40.jpg"]),
        ("12000 x 12000 video", [video(d / "v.mp4", 12000), "-o", d / "ov.mp4"]),
        ("TIFF bomb (16000 x 16000 float header)", [d / "bomb.tif", "-o", d / "ob.tif"]),
        (f"bad weights file ({(d / 'bad.pth').stat().st_size} B)", [EXAMPLE, "-o", d / "ow.png", "-m", d / "bad.pth"]),
    ]
    for label, argv in cases:
        cmd = [sys.executable, "-c", RUN, "deblur", *map(str, argv), "--threads", args.threads]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        last = [ln for ln in proc.stderr.splitlines() if ln.startswith("RSS")][-1]
        said = next((ln for ln in proc.stderr.splitlines() if "error" in ln or "failed" in ln or "processed" in ln), "")
        print(f"{label:42s} {last:24s} {said.strip()[:110]}", flush=True)


if __name__ == "__main__":
    main()
