"""The generator's objective and one GAN training step.

The paper adds ``1 * MSE + 10 * perceptual + 1 * adversarial``. Those weights assume the
paper's loss scales; ours are far apart (measured on faceblur-lite at the start of a fine-tune:
MSE ~0.016 in [-1, 1] units, VGG relu3_1 MSE ~4.6, a WGAN critic score that drifts without
bound), so the paper's weights let the perceptual term outweigh the content term ~3,000 to 1 and
the output stops being the face. Two ways to combine the terms:

- ``paper``: the raw weighted sum, as published (kept so the paper's protocol is reproducible).
- ``balanced`` (default): each weight acts on the term's **gradient at the generator's output
  image**, normalised by a running mean of that gradient's norm and referred to the content
  term's. The output's gradient is

      w_content * g_content  +  sum_k  w_k * (|g_content| / |g_k|) * g_k

  so ``perceptual 0.3`` means "the perceptual push on the output is 0.3 times the content push",
  whatever the terms' raw scales, and a drifting critic cannot take over. This is VQGAN's adaptive
  weight (Esser et al. 2021) measured at the image rather than the last layer, which needs no
  second backward through the generator: the terms are differentiated with respect to a detached
  copy of the output and the generator is back-propagated once with their combination.

Each term's share of the combined gradient (``share_*``) is logged every step, so an imbalance
shows at once in ``train.csv``.

Distillation (``--teacher``) adds one more term: the content loss to a frozen teacher network's
output on the same blurry input, weighted like the others (balanced: its push relative to the
sharp target's).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .losses import LossWeights, content_loss, critic_loss

OBJECTIVES = ("balanced", "paper")

#: (perceptual, adversarial) weights when a run gives none. The paper's are its published ones;
#: the balanced ones are push ratios relative to the content term, chosen by measurement (README,
#: "GAN objective").
DEFAULT_WEIGHTS = {"paper": (10.0, 1.0), "balanced": (0.25, 0.05)}


@dataclass
class Objective:
    """Combines content / perceptual / adversarial terms into one gradient on the generator output."""

    weights: LossWeights
    kind: str = "balanced"
    beta: float = 0.99  # running mean of the gradient norms (bias-corrected)

    def __post_init__(self):
        if self.kind not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.kind!r}; choose from {OBJECTIVES}")
        self.norms: dict[str, list[float]] = {}  # term -> [running sum, updates]

    # -- state (part of a checkpoint, so a resume is exact) ---------------------------------
    def state_dict(self) -> dict:
        return {"norms": {k: list(v) for k, v in self.norms.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.norms = {k: [float(v[0]), int(v[1])] for k, v in state.get("norms", {}).items()}

    # -- the combination -------------------------------------------------------------------
    def terms(
        self,
        fake: torch.Tensor,
        sharp: torch.Tensor,
        perceptual=None,
        critic=None,
        adversarial_scale: float = 1.0,
        taught: torch.Tensor | None = None,
    ) -> dict[str, tuple[torch.Tensor, float]]:
        """Loss terms on ``fake`` with their nominal weights; a term with weight 0 is not computed.
        ``taught``: a teacher network's output on the same input (distillation)."""
        w = self.weights
        out = {"content": (content_loss(fake, sharp, w.content_kind), w.content)}
        if w.teacher and taught is not None:
            out["teacher"] = (content_loss(fake, taught, w.content_kind), w.teacher)
        if w.perceptual and perceptual is not None:
            out["perceptual"] = (perceptual(fake, sharp), w.perceptual)
        if w.adversarial * adversarial_scale and critic is not None:
            out["adversarial"] = (-critic(fake).mean(), w.adversarial * adversarial_scale)
        return out

    def _smoothed(self, norms: dict[str, float]) -> dict[str, float]:
        """Running means of the gradient norms, bias-corrected per term (a term switched on late
        has had fewer updates), so the first step uses its own norm."""
        out = {}
        for k, n in norms.items():
            run, count = self.norms.get(k, [0.0, 0])
            run, count = self.beta * run + (1 - self.beta) * n, count + 1
            self.norms[k] = [run, count]
            out[k] = run / (1 - self.beta**count)
        return out

    def coefficients(self, nominal: dict[str, float], norms: dict[str, float]) -> dict[str, float]:
        """The factor each term's gradient is multiplied by."""
        if self.kind == "paper":
            return dict(nominal)
        smooth = self._smoothed(norms)
        ref = smooth["content"]
        return {k: w if k == "content" else w * ref / max(smooth[k], 1e-12) for k, w in nominal.items()}

    def backward(
        self,
        fake: torch.Tensor,
        sharp: torch.Tensor,
        perceptual=None,
        critic=None,
        adversarial_scale: float = 1.0,
        taught: torch.Tensor | None = None,
    ) -> dict:
        """Back-propagate the combined objective into the generator that produced ``fake``; return logs."""
        leaf = fake.detach().requires_grad_(True)
        terms = self.terms(leaf, sharp, perceptual, critic, adversarial_scale, taught)
        grads = {k: torch.autograd.grad(v, leaf)[0].float() for k, (v, _) in terms.items()}
        norms = {k: g.norm().item() for k, g in grads.items()}
        coef = self.coefficients({k: w for k, (_, w) in terms.items()}, norms)
        total = torch.stack([coef[k] * g for k, g in grads.items()]).sum(0)
        fake.backward(total.to(fake.dtype))
        pushes = {k: coef[k] * norms[k] for k in grads}
        whole = sum(pushes.values()) or 1.0
        g_total = sum(coef[k] * v.item() for k, (v, _) in terms.items())
        logs = {"g_total": g_total, **{k: v.item() for k, (v, _) in terms.items()}}
        logs.update({f"share_{k}": p / whole for k, p in pushes.items()})
        logs.update({f"coef_{k}": c for k, c in coef.items() if k != "content"})
        logs.update({f"gnorm_{k}": n for k, n in norms.items()})
        return logs


def gan_step(
    generator: nn.Module,
    critic: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    blurry: torch.Tensor,
    sharp: torch.Tensor,
    objective: Objective,
    perceptual=None,
    train_critic: bool = False,
    adversarial_scale: float = 0.0,
    reduce_critic_grads=None,
    teacher: nn.Module | None = None,
) -> dict:
    """One step: the critic's WGAN-GP update on ``fake.detach()``, then the generator's.

    ``train_critic`` and ``adversarial_scale`` are separate so a warm-up can train the critic
    while the generator still sees content (+ perceptual) only, then ramp the adversarial term in.
    """
    fake = generator(blurry)
    logs: dict = {}
    w = objective.weights
    if train_critic:
        d_loss, d_logs = critic_loss(critic, sharp, fake.detach(), w.gradient_penalty, w.drift)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        if reduce_critic_grads is not None:
            reduce_critic_grads(critic)
        opt_d.step()
        logs.update(d_logs)
    critic.requires_grad_(False)  # the generator step must not accumulate critic gradients
    opt_g.zero_grad(set_to_none=True)
    taught = None
    if teacher is not None:
        with torch.no_grad():
            taught = teacher(blurry).float()
    logs.update(
        objective.backward(fake, sharp, perceptual, critic if train_critic else None, adversarial_scale, taught)
    )
    opt_g.step()
    critic.requires_grad_(True)
    return logs
