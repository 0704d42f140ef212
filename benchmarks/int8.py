"""Static int8 (QDQ) quantization of a model's ONNX export, calibrated on training faces; accuracy
and speed against fp32 ONNX on validation faces (not the reported hold-out).

python benchmarks/int8.py [-m default] [--calib 64] [--faces 12] [--threads 1]
Ship int8 only where the PSNR loss is <= 0.05 dB (issue 28).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from wild_probe import validation_sample  # noqa: E402

from faceblur_cli.data import split_files  # noqa: E402
from faceblur_cli.deblurrer import _from_net, _to_net  # noqa: E402
from faceblur_cli.evaluation import everyday_cases  # noqa: E402
from faceblur_cli.imageio import list_images  # noqa: E402
from faceblur_cli.metrics import psnr  # noqa: E402
from faceblur_cli.onnx_backend import OnnxBackend, export_onnx  # noqa: E402
from faceblur_cli.weights import load_generator  # noqa: E402


def calibration_batches(root: Path, n: int, side: int = 176):
    """Training faces (never the hold-out), blurred by the everyday protocol's kinds, centre-cropped to
    one size (the histogram calibrators need equal shapes; 176 fits CelebA's 178 x 218 faces)."""
    files = []
    for ds in ("celeba", "helen"):
        train, _ = split_files(list_images(root / ds / "train"))
        files += train[:: max(1, len(train) // (n // 2))][: n // 2]
    for c in everyday_cases(files, seed=99):
        img = c.blurry
        h, w = img.shape[:2]
        y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
        crop = img[y : y + side, x : x + side]
        pad = ((0, side - crop.shape[0]), (0, side - crop.shape[1]), (0, 0))
        yield _to_net([np.pad(crop, pad, mode="reflect")])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", default="default")
    ap.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    ap.add_argument("--calib", type=int, default=32, help="calibration faces (x4 blur sizes)")
    ap.add_argument("--faces", type=int, default=12, help="validation faces per dataset")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="keep the int8 model here")
    ap.add_argument("--keep-float", type=int, default=0, help="leave the last N convs in float (the output layers)")
    ap.add_argument("--method", default="minmax", choices=["minmax", "entropy", "percentile"])
    args = ap.parse_args()
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    g = load_generator(args.model)
    tmp = Path(tempfile.mkdtemp())
    fp32 = export_onnx(g, tmp / "fp32.onnx")
    quant_pre_process(str(fp32), str(tmp / "pre.onnx"), skip_symbolic_shape=True)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter({"blurry": b} for b in calibration_batches(args.data_root, args.calib))

        def get_next(self):
            return next(self.it, None)

    int8 = args.out or tmp / "int8.onnx"
    convs = [n.name for n in onnx.load(str(tmp / "pre.onnx")).graph.node if n.op_type == "Conv"]
    keep = convs[len(convs) - args.keep_float :] if args.keep_float else []
    quantize_static(
        str(tmp / "pre.onnx"),
        str(int8),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=keep,
        calibrate_method={
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }[args.method],
    )
    cases = everyday_cases(validation_sample(args.data_root, args.faces))
    rows = {}
    for name, path in (("onnx fp32", fp32), ("onnx int8", int8)):
        be = OnnxBackend(path, "cpu", args.threads)
        scores, ms = [], []
        for c in cases:
            x = _to_net([c.blurry])
            t0 = time.perf_counter()
            y = be(x)
            ms.append((time.perf_counter() - t0) * 1000)
            scores.append(psnr(c.sharp, _from_net(y)[0]))
        rows[name] = {"psnr": round(float(np.mean(scores)), 3), "ms_median": round(float(np.median(ms)), 1)}
        print(name, json.dumps(rows[name]), flush=True)
    print("int8 - fp32:", round(rows["onnx int8"]["psnr"] - rows["onnx fp32"]["psnr"], 3), "dB")
    if args.out:
        from faceblur_cli.weights import sha256_of

        print(f"\n[{g.name}-int8]  # weights.toml entry")
        print('kind = "onnx-int8"')
        print(f'filename = "{args.out.name}"\nsha256 = "{sha256_of(args.out)}"\nsize = {args.out.stat().st_size}')
        print(f'built_from = "{g.sha256}"')


if __name__ == "__main__":
    main()
