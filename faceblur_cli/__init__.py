"""faceblur: remove motion blur from face photos with a GAN (Qi et al. 2020).

from faceblur_cli import Deblurrer
sharp = Deblurrer(model="auto").deblur(pil_image_or_array)
"""

__version__ = "0.1.0"
__all__ = ["Deblurrer", "__version__"]


def __getattr__(name):  # lazy: `import faceblur_cli` stays cheap (no torch until needed)
    if name == "Deblurrer":
        from .deblurrer import Deblurrer

        return Deblurrer
    raise AttributeError(name)
