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
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.core.amp import AMP_DTYPES


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
) -> StepModels:
    """Wrap (G, D) for training: memory format, DDP, compile, grad scalers.

    Args:
        G, D: the nets, already on `device` (their parameters are the optimisers').
        amp: "off", "bf16" or "fp16" (fp16 gets GradScalers).
        channels_last: convert both nets to NHWC.
        compile: torch.compile the nets.
        ddp: wrap in DistributedDataParallel (the process group must exist).
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
    )


def gan_step(
    m: StepModels, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None = None
) -> torch.Tensor:
    """One D update and one G update on real images x and latents z.

    Args:
        m: the prepared models and optimisers.
        x: real images (B, C, S, S) in [-1, 1] on the training device.
        z: latents (B, nz) on the training device.
        y: a conditional run's labels (B,) of x, on the device; the fakes are drawn in the
            same classes (the authors' appendix model). None for an unconditional run.
    Returns:
        (4,) detached tensor on the device: loss_d, loss_g, mean D(x), mean D(G(z)).
    """
    bce = F.binary_cross_entropy_with_logits
    if m.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    device = x.device

    # D step: maximise log D(x) + log(1 - D(G(z)))
    with m.autocast(device):
        fake = m.G(z) if y is None else m.G(z, y)  # (B, C, S, S)
        real_logits = m.D(x, y).float()  # (B,)
        fake_logits = m.D(fake.detach(), y).float()
        loss_d = bce(real_logits, torch.ones_like(real_logits)) + bce(
            fake_logits, torch.zeros_like(fake_logits)
        )
    m.opt_d.zero_grad(set_to_none=True)
    _backward_step(loss_d, m.opt_d, m.scaler_d)

    # G step: maximise log D(G(z)), the non-saturating loss of the paper's code. D is frozen:
    # only gradients with respect to its input are needed.
    m.D_params.requires_grad_(False)
    try:
        with m.autocast(device):
            gen_logits = m.D_frozen(fake, y).float()
            loss_g = bce(gen_logits, torch.ones_like(gen_logits))
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
