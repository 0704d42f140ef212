"""Rebuild the bundled example: scikit-image's public-domain astronaut() photo, blurred by our own kernel.

python benchmarks/make_example.py
"""

from pathlib import Path

import numpy as np
from skimage.data import astronaut

from faceblur_cli.blur import degrade
from faceblur_cli.imageio import save_image
from faceblur_cli.kernels import motion_kernel

OUT = Path(__file__).resolve().parents[1] / "faceblur_cli" / "assets" / "examples"

if __name__ == "__main__":
    sharp = astronaut()  # NASA photo of Eileen Collins, public domain
    kernel = motion_kernel(19, np.random.default_rng(2020))
    blurry = degrade(sharp, kernel, np.random.default_rng(1), noise_sigma=1.0, jpeg_quality=92)
    save_image(blurry, OUT / "astronaut_blurry.jpg", quality=95, overwrite=True)
    save_image(sharp, OUT / "astronaut_sharp.png", overwrite=True)
    np.save(OUT / "astronaut_kernel.npy", kernel)
    print("wrote", OUT)
