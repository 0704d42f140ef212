"""Markdown tables (PSNR / SSIM per kernel size and overall) from a `faceblur benchmark` results.json:
one per protocol (paper, mild, sharp), then the real-blur rows (aligned and detect/paste-back).

python benchmarks/readme_table.py benchmark_out/results.json [more/results.json ...]

Several files (runs on the same faces, seed and sizes, e.g. one model per run) are merged into one
table per protocol; a mismatch in what was measured is refused.
"""

import json
import sys


def protocol_table(dataset: str, n: int, seed: int, name: str, block: dict) -> None:
    sizes = [str(k) for k in block["sizes"]]
    what = "no blur (scored against the input)" if name == "sharp" else f"{len(sizes)} kernel sizes"
    print(f"\n*{dataset}, {name} protocol: {n} held-out images × {what} (seed {seed}); PSNR dB / SSIM*\n")
    cols = ["input"] if name == "sharp" else sizes
    detail = all("detail" in m for m in block["methods"].values())
    print("| method | " + " | ".join(cols) + " | overall |" + (" detail |" if detail else "") + " ms/img |")
    print("|---" * (len(cols) + 3 + detail) + "|")
    for method, m in block["methods"].items():
        cells = [f"{m['per_size'][k]['psnr']:.2f} / {m['per_size'][k]['ssim']:.3f}" for k in sizes]
        overall = f"**{m['psnr']:.2f} / {m['ssim']:.4f}**" + (f" | {m['detail']:.2f}" if detail else "")
        print(f"| {method} | " + " | ".join(cells) + f" | {overall} | {m['ms_per_image']:.0f} |")


def load_merged(paths: list[str]) -> dict:
    """One report from several runs over the same faces: methods side by side, first run's rows first."""
    runs = [json.load(open(p)) for p in paths]
    data = runs[0]
    data.setdefault("protocols", {"paper": {"sizes": data["sizes"], "methods": data["methods"]}})
    for path, other in zip(paths[1:], runs[1:]):
        for key in ("dataset", "num_images", "seed"):
            if other[key] != data[key]:
                sys.exit(f"error: {path}: {key} {other[key]!r} differs from {paths[0]}'s {data[key]!r}")
        for name, block in (other.get("protocols") or {}).items():
            mine = data["protocols"].setdefault(name, {"sizes": block["sizes"], "methods": {}})
            if mine["sizes"] != block["sizes"]:
                sys.exit(f"error: {path}: {name} sizes {block['sizes']} differ from {mine['sizes']}")
            mine["methods"].update({k: v for k, v in block["methods"].items() if k not in mine["methods"]})
        if other.get("real"):
            real = data.setdefault("real", other["real"])
            for mode, rows in other["real"]["modes"].items():
                real["modes"].setdefault(mode, {}).update(
                    {k: v for k, v in rows.items() if k not in real["modes"][mode]}
                )
    return data


if __name__ == "__main__":
    data = load_merged(sys.argv[1:])
    for name, block in data["protocols"].items():
        protocol_table(data["dataset"], data["num_images"], data["seed"], name, block)
    real = data.get("real")
    if real and real.get("paired"):
        print(f"\n*real blur, {real['count']} paired frames ({real['folder']}); PSNR dB / SSIM*\n")
        print("| method | aligned (network on the frame) | detect + paste back |")
        print("|---|---|---|")
        modes = real["modes"]
        for method in modes["aligned"]:
            cells = [f"{modes[m][method]['psnr']:.2f} / {modes[m][method]['ssim']:.4f}" for m in ("aligned", "faces")]
            print(f"| {method} | " + " | ".join(cells) + " |")
