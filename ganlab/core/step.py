"""One DCGAN optimisation step (a D update, then a G update), and how it is made fast.

Kept apart from the training loop because the throughput benchmark times exactly this step
against a plain reference loop. The speed-ups, all optional except the first:

- During the G step D's parameters are frozen (`requires_grad_(False)`), so backpropagation
  through D computes only input gradients, not the weight gradients a plain loop computes and
  then throws away (about a sixth of a step's convolution work).
- channels_last memory format (NHWC), which oneDNN and cuDNN convolutions prefer.
- Mixed precision (`--amp`, see `precision`): bf16 autocast on CUDA or a CPU with bf16 units,
  fp16 on CUDA with a GradScaler per optimiser.
- `torch.compile` of both nets (`--compile`).

The recipe options (docs/recipes.md) live here too: the loss (`--loss`, core.losses), several D
updates per G update (`--d-steps`), DiffAugment on everything D sees (`--diffaug`,
core.diffaug) and the lazy R1 penalty (`--r1`). With their defaults the step is the paper's,
operation for operation.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass

import torch
from torch import nn

from ganlab.core.amp import AMP_DTYPES
from ganlab.core.diffaug import aug_generator, diff_augment
from ganlab.core.losses import LOSSES

R1_EVERY = 16  # lazy R1 (StyleGAN2): the penalty every 16 steps, scaled by 16


@dataclass
class StepModels:
    """The nets as the step uses them: possibly DDP-wrapped and compiled."""

    G: nn.Module  # called for the fake batch (DDP wrapper when distributed)
    D: nn.Module  # called for the D step (DDP wrapper when distributed)
    D_frozen: nn.Module  # plain D for the G step: no gradient sync, no weight gradients
    D_params: nn.Module  # the underlying D, whose parameters get frozen in the G step
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    amp: str = "off"  # "off", "bf16" or "fp16"
    channels_last: bool = False
    scaler_d: torch.amp.GradScaler | None = None
    scaler_g: torch.amp.GradScaler | None = None
    loss: str = "bce"  # core.losses.LOSSES
    diffaug: tuple[str, ...] = ()  # DiffAugment ops (core.diffaug.OPS); () off
    r1: float = 0.0  # R1 gamma; 0 off
    world_size: int = 1  # DDP processes: R1's gradients are averaged by hand over them

    def autocast(self, device: torch.device):
        if self.amp == "off":
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=AMP_DTYPES[self.amp])


def prepare_models(
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    device: torch.device,
    amp: str = "off",
    channels_last: bool = False,
    compile: bool = False,
    ddp: bool = False,
    loss: str = "bce",
    diffaug: tuple[str, ...] = (),
    r1: float = 0.0,
) -> StepModels:
    """Wrap (G, D) for training: memory format, DDP, compile, grad scalers.

    Args:
        G, D: the nets, already on `device` (their parameters are the optimisers').
        amp: "off", "bf16" or "fp16" (fp16 gets GradScalers).
        channels_last: convert both nets to NHWC.
        compile: torch.compile the nets.
        ddp: wrap in DistributedDataParallel (the process group must exist).
        loss: the GAN loss (core.losses.LOSSES).
        diffaug: DiffAugment ops for everything D sees.
        r1: the R1 penalty's gamma (0: off).
    Returns:
        StepModels for `gan_step`.
    """
    if channels_last:
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
    g_call, d_call = G, D
    if ddp:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        # broadcast_buffers=False: each rank keeps its own BatchNorm running statistics (rank
        # 0's are saved), saving a buffer broadcast per forward.
        g_call = DDP(G, device_ids=ids, broadcast_buffers=False)
        d_call = DDP(D, device_ids=ids, broadcast_buffers=False)
    d_frozen = D
    if compile:
        g_call, d_call, d_frozen = (torch.compile(m) for m in (g_call, d_call, D))
    scalers = (None, None)
    if amp == "fp16":
        scalers = (torch.amp.GradScaler(device.type), torch.amp.GradScaler(device.type))
    return StepModels(
        G=g_call,
        D=d_call,
        D_frozen=d_frozen,
        D_params=D,
        opt_g=opt_g,
        opt_d=opt_d,
        amp=amp,
        channels_last=channels_last,
        scaler_d=scalers[0],
        scaler_g=scalers[1],
        loss=loss,
        diffaug=tuple(diffaug),
        r1=r1,
        world_size=torch.distributed.get_world_size() if ddp else 1,
    )


def gan_step(
    m: StepModels,
    x: torch.Tensor,
    z: torch.Tensor | list[torch.Tensor],
    y: torch.Tensor | None = None,
    position: tuple[int, int, int] = (0, 0, 0),
) -> torch.Tensor:
    """One or more D updates, then one G update, on real images x and latents z.

    Args:
        m: the prepared models and optimisers.
        x: real images (B, C, S, S) in [-1, 1] on the training device.
        z: latents (B, nz) on the training device, or one (B, nz) per D update (`--d-steps`);
            G's update uses the fakes of the last.
        y: a conditional run's labels (B,) of x, on the device; the fakes are drawn in the
            same classes (the authors' appendix model). None for an unconditional run.
        position: (seed, step, rank) of this step: seeds the DiffAugment draws and places the
            lazy R1 steps.
    Returns:
        (4,) detached tensor on the device: loss_d, loss_g, mean D(x), mean D(G(z)) (the
        last D update's; D's outputs through a sigmoid, whatever the loss).
    """
    d_loss, g_loss = LOSSES[m.loss]
    if m.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    device = x.device
    calls = itertools.count()  # this step's augmentation calls, numbered in order

    def seen(images: torch.Tensor) -> torch.Tensor:
        """What D sees of `images`: themselves, or their DiffAugment (differentiable)."""
        if not m.diffaug:
            return images
        out = diff_augment(images, m.diffaug, aug_generator(*position, next(calls)))
        return out.contiguous(memory_format=torch.channels_last) if m.channels_last else out

    # D step(s): maximise log D(x) + log(1 - D(G(z))) (bce; hinge and lsgan likewise)
    for zk in z if isinstance(z, (list, tuple)) else [z]:
        with m.autocast(device):
            fake = m.G(zk) if y is None else m.G(zk, y)  # (B, C, S, S)
            real_logits = m.D(seen(x), y).float()  # (B,)
            fake_logits = m.D(seen(fake.detach()), y).float()
            loss_d = d_loss(real_logits, fake_logits)
        m.opt_d.zero_grad(set_to_none=True)
        _backward_step(loss_d, m.opt_d, m.scaler_d)
    if m.r1 and position[1] % R1_EVERY == 0:
        _r1_step(m, seen(x).detach(), y)

    # G step: maximise log D(G(z)), the non-saturating loss of the paper's code. D is frozen:
    # only gradients with respect to its input are needed.
    m.D_params.requires_grad_(False)
    try:
        with m.autocast(device):
            gen_logits = m.D_frozen(seen(fake), y).float()
            loss_g = g_loss(gen_logits)
        m.opt_g.zero_grad(set_to_none=True)
        _backward_step(loss_g, m.opt_g, m.scaler_g)
    finally:
        m.D_params.requires_grad_(True)

    return torch.stack(
        [
            loss_d.detach(),
            loss_g.detach(),
            torch.sigmoid(real_logits.detach()).mean(),
            torch.sigmoid(fake_logits.detach()).mean(),
        ]
    )


def _r1_step(m: StepModels, x: torch.Tensor, y: torch.Tensor | None) -> None:
    """A D update on the lazy R1 penalty (Mescheder et al. 2018; StyleGAN2's lazy form):
    R1_EVERY * gamma / 2 * E ||grad_x D(x)||^2 on real images, in float32.

    It runs on the plain D: DDP cannot differentiate its own gradient, so under torchrun the
    gradients are averaged over the processes here.
    """
    x = x.float().requires_grad_(True)
    logits = m.D_params(x, y)  # (B,)
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)  # (B, C, S, S)
    penalty = grad.square().sum(dim=[1, 2, 3]).mean() * (m.r1 / 2 * R1_EVERY)
    m.opt_d.zero_grad(set_to_none=True)
    penalty.backward()
    if m.world_size > 1:
        for p in m.D_params.parameters():
            if p.grad is not None:
                torch.distributed.all_reduce(p.grad)
                p.grad /= m.world_size
    m.opt_d.step()


def _backward_step(
    loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None
) -> None:
    if scaler is None:
        loss.backward()
        opt.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
