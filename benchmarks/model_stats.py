"""Parameter count and forward GFLOPs at 256x256 for every generator preset (README table).

python benchmarks/model_stats.py
"""

from faceblur_cli.models.generator import PRESETS, Generator, count_parameters, gflops

if __name__ == "__main__":
    print(f"{'preset':8} {'params (M)':>10} {'GFLOPs@256':>11}")
    for name, cfg in PRESETS.items():
        g = Generator(cfg).eval()
        print(f"{name:8} {count_parameters(g) / 1e6:10.3f} {gflops(g, 256):11.2f}")
