"""Weights registry: ``weights.toml`` names -> verified local files -> loaded models.

Resolution order for a model name: an explicit file path > the faceblur cache
(``$FACEBLUR_CACHE`` or ``~/.cache/faceblur``) > the copy bundled in the
package > ``huggingface_hub.hf_hub_download`` (which itself honours HF_HOME,
HF_HUB_OFFLINE and HF_TOKEN). Every file is checked against the registry's
sha256 before it is deserialised, and deserialised with ``weights_only=True``.

Three layers, each importing only the ones below: :mod:`.registry` (names, specs, sha256, cache),
:mod:`.hub` (resolve a name to a verified file, download, model card), :mod:`.files` (load, write,
export, convert, interpolate, push); :mod:`.release` tags a training run as a release on top of them.
"""

from .files import (
    RELEASE_FORMAT,
    atomic_torch_save,
    convert,
    export_generator,
    interpolate,
    load_checkpoint,
    load_generator,
    push,
    release_of,
    released_weights,
    write_release,
)
from .hub import hub_download, model_card, resolve
from .registry import (
    PACKAGE_DIR,
    REGISTRY_FILE,
    WeightsError,
    WeightSpec,
    auto_model_name,
    cache_dir,
    default_model_name,
    load_registry,
    registry_file,
    sha256_of,
    verify,
)

__all__ = [
    "PACKAGE_DIR",
    "REGISTRY_FILE",
    "RELEASE_FORMAT",
    "WeightSpec",
    "WeightsError",
    "atomic_torch_save",
    "auto_model_name",
    "cache_dir",
    "convert",
    "default_model_name",
    "export_generator",
    "hub_download",
    "interpolate",
    "load_checkpoint",
    "load_generator",
    "load_registry",
    "model_card",
    "push",
    "registry_file",
    "release_of",
    "released_weights",
    "resolve",
    "sha256_of",
    "verify",
    "write_release",
]
