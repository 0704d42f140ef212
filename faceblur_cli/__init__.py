"""faceblur: remove motion blur from face photos with a GAN (Qi et al. 2020).

from faceblur_cli import Deblurrer
sharp = Deblurrer(model="auto").deblur(pil_image_or_array)
"""

import os as _os

# OpenMP threads that spin-wait for work collapse when another program holds the cores (measured:
# 2 threads beside two busy processes, 504 ms per face against 48 idle); a short spin keeps idle speed
# (53 ms) and bounds the contended case (226 ms; onnxruntime 168). Read by libgomp when torch loads,
# so it is set here, before any torch import; a value the user set wins.
_os.environ.setdefault("GOMP_SPINCOUNT", "1000")

__version__ = "0.3.0"
__all__ = ["Deblurrer", "__version__"]


def __getattr__(name):  # lazy: `import faceblur_cli` stays cheap (no torch until needed)
    if name == "Deblurrer":
        from .deblurrer import Deblurrer

        return Deblurrer
    raise AttributeError(name)
