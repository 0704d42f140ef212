"""Markdown table (PSNR / SSIM per kernel size and overall) from a `faceblur benchmark` results.json.

python benchmarks/readme_table.py benchmark_out/results.json
"""

import json
import sys

if __name__ == "__main__":
    data = json.load(open(sys.argv[1]))
    sizes = [str(k) for k in data["sizes"]]
    print(
        f"*{data['dataset']}, {data['num_images']} held-out images × {len(sizes)} kernel sizes "
        f"(seed {data['seed']}); PSNR dB / SSIM*\n"
    )
    print("| method | " + " | ".join(sizes) + " | overall | ms/img |")
    print("|---" * (len(sizes) + 3) + "|")
    for name, m in data["methods"].items():
        cells = [f"{m['per_size'][k]['psnr']:.2f} / {m['per_size'][k]['ssim']:.3f}" for k in sizes]
        print(
            f"| {name} | " + " | ".join(cells) + f" | **{m['psnr']:.2f} / {m['ssim']:.4f}** | {m['ms_per_image']:.0f} |"
        )
