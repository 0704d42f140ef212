"""Training losses: content (MSE, or L1 / Charbonnier), VGG19 perceptual, the WGAN-GP critic.

The paper's objective is ``1 * MSE + 10 * perceptual + 1 * adversarial``; :class:`LossWeights`
holds the weights, :mod:`faceblur_cli.objective` how they combine. All image tensors are in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

#: Index (in torchvision's ``vgg19().features``) of the ReLU that ends each named layer.
VGG19_LAYERS = {
    "relu1_1": 1,
    "relu1_2": 3,
    "relu2_1": 6,
    "relu2_2": 8,
    "relu3_1": 11,
    "relu3_2": 13,
    "relu3_3": 15,
    "relu3_4": 17,
    "relu4_1": 20,
    "relu4_2": 22,
    "relu4_3": 24,
    "relu4_4": 26,
}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class LossWeights:
    content: float = 1.0
    perceptual: float = 10.0
    adversarial: float = 1.0
    gradient_penalty: float = 10.0  # WGAN-GP lambda (Gulrajani et al. 2017)
    content_kind: str = "mse"  # see CONTENT_LOSSES
    drift: float = 0.0  # critic drift penalty epsilon (0: the paper's plain WGAN-GP)
    teacher: float = 0.0  # distillation: the content loss to a teacher network's output (0: off)


#: Pixel losses. The paper's is MSE; L1 / Charbonnier train small restoration nets to a higher
#: PSNR than MSE does (Zhao et al. 2017, "Loss functions for image restoration with neural networks").
#: ``l1+mse`` is L1 plus MSE scaled so the squared term takes over above |error| = 0.05 (6/255):
#: L1 keeps sharp and near-sharp faces exact (MSE alone lets them drift, -2.3 dB on sharp input),
#: while the squared term pushes on the large errors of heavy blur, which is what PSNR counts.
CONTENT_LOSSES = ("mse", "l1", "charbonnier", "l1+mse")
L1_MSE_CROSSOVER = 0.05


def content_loss(fake: torch.Tensor, sharp: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    if kind == "mse":
        return F.mse_loss(fake, sharp)
    if kind == "l1":
        return F.l1_loss(fake, sharp)
    if kind == "charbonnier":
        return torch.sqrt((fake - sharp) ** 2 + 1e-6).mean()
    if kind == "l1+mse":  # d/de: 1 vs e / crossover, equal at |e| = crossover
        return F.l1_loss(fake, sharp) + F.mse_loss(fake, sharp) / (2 * L1_MSE_CROSSOVER)
    raise ValueError(f"unknown content loss {kind!r}; choose from {CONTENT_LOSSES}")


#: torchvision's VGG19 ("E") feature layers up to pool4; "M" = 2x2 max-pool.
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M")


def vgg19_features(end: int) -> nn.Sequential:
    """torchvision's ``vgg19().features[:end]``, same module indices (so its state dict loads),
    defined here so that training needs no torchvision."""
    layers: list[nn.Module] = []
    cin = 3
    for v in _VGG19_CFG:
        if isinstance(v, int):
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
            cin = v
        else:  # "M"
            layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers[:end])


class VGGPerceptual(nn.Module):
    """MSE between VGG19 feature maps of output and target (frozen, ImageNet-normalised).

    ``layer`` defaults to relu3_1, the deepest layer the offline weights
    (``features[0:11]``) reach; pass a full torchvision VGG19 state dict to use
    the paper's relu3_3.
    """

    def __init__(self, weights: str | Path, layer: str = "relu3_1"):
        super().__init__()
        if layer not in VGG19_LAYERS:
            raise ValueError(f"unknown VGG19 layer {layer!r}; choose from {list(VGG19_LAYERS)}")
        state = torch.load(weights, map_location="cpu", weights_only=True)
        state = {k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")}
        features = vgg19_features(VGG19_LAYERS[layer] + 1)
        wanted = {k for k in features.state_dict()}
        missing = wanted - set(state)
        if missing:
            raise ValueError(
                f"{weights} cannot give {layer}: missing {sorted(missing)[:4]}... "
                "(the offline weights stop at conv3_1; relu3_3 needs a full VGG19 state dict)"
            )
        features.load_state_dict({k: state[k] for k in wanted}, strict=True)
        self.features = features.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> VGGPerceptual:
        return super().train(False)  # frozen feature extractor: always eval

    def features_of(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map of an image in [-1, 1]."""
        mean, std = self.get_buffer("mean"), self.get_buffer("std")
        return self.features(((x + 1) / 2 - mean) / std)

    def forward(self, fake: torch.Tensor, sharp: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.features_of(sharp)
        return F.mse_loss(self.features_of(fake), target)


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor | None = None
) -> torch.Tensor:
    """WGAN-GP penalty E[(||grad_x D(x_hat)||_2 - 1)^2], the norm taken **per sample**.

    ``x_hat`` is a random interpolate of real and fake; ``eps`` (N x 1 x 1 x 1) may be
    given for reproducibility/tests. The patch map is averaged, as in the loss,
    so each sample's gradient is that of its own score.
    """
    if eps is None:
        eps = torch.rand(real.size(0), 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    score = critic(x_hat)
    (grad,) = torch.autograd.grad(score.flatten(1).mean(1).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def critic_loss(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, gp_weight: float = 10.0, drift: float = 0.0
) -> tuple[torch.Tensor, dict]:
    """WGAN-GP critic objective ``D(fake) - D(real) + gp_weight * GP + drift * E[D(real)^2]``.

    The Wasserstein terms only see score *differences*, so nothing holds the scores' level: under
    Adam it wanders and the generator's term ``-D(fake)`` with it. The drift penalty (Karras et al.
    2018, "Progressive growing of GANs", epsilon = 0.001) anchors the level at 0. ``fake`` must be
    detached by the caller.
    """
    s_real = critic(real)
    d_real, d_fake = s_real.mean(), critic(fake).mean()
    gp = gradient_penalty(critic, real, fake)
    loss = d_fake - d_real + gp_weight * gp
    if drift:
        loss = loss + drift * s_real.float().pow(2).mean()
    logs = {
        "critic": loss.item(),
        "wasserstein": (d_real - d_fake).item(),
        "gp": gp.item(),
        "d_real": d_real.item(),
        "d_fake": d_fake.item(),
    }
    return loss, logs
