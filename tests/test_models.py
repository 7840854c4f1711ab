import pytest
import torch
from torch import nn

from ganlab.core.models import Discriminator, Generator, ModelConfig, build_models

SIZES = [16, 32, 64, 128, 256]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_for_every_size(size, channels):
    cfg = ModelConfig(image_size=size, channels=channels, nz=12, ngf=4, ndf=4)
    G, D = build_models(cfg)
    x = G(torch.rand(3, 12) * 2 - 1)
    assert x.shape == (3, channels, size, size)
    logits, feats = D(x, features=True)
    assert logits.shape == (3,)
    assert [tuple(f.shape[1:]) for f in feats] == D.feature_shapes()
    # D halves the resolution down to a 4x4 map, one conv layer per halving
    assert feats[-1].shape[-1] == 4
    assert len(feats) == size.bit_length() - 3


def test_paper_64px_generator_shape():
    # Fig. 1: z -> 4x4x1024 -> 8x8x512 -> 16x16x256 -> 32x32x128 -> 64x64x3 (ngf=128)
    G = Generator(ModelConfig(image_size=64, ngf=128))
    shapes = []
    x = torch.rand(2, 100)
    h = x.reshape(2, 100, 1, 1)
    for m in G.main:
        h = m(h)
        if isinstance(m, nn.ConvTranspose2d):
            shapes.append(tuple(h.shape[1:]))
    assert shapes == [(1024, 4, 4), (512, 8, 8), (256, 16, 16), (128, 32, 32), (3, 64, 64)]


def test_batchnorm_placement_and_activations():
    G, D = build_models(ModelConfig(image_size=32))
    g_layers = list(G.main)
    assert isinstance(g_layers[-1], nn.Tanh)
    assert isinstance(g_layers[-2], nn.ConvTranspose2d)  # no BN on G's output
    assert not any(isinstance(m, nn.MaxPool2d) for m in G.modules())
    first = D.blocks[0]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in first)  # no BN on D's input
    assert all(any(isinstance(m, nn.BatchNorm2d) for m in b) for b in D.blocks[1:])
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, nn.LeakyReLU))
    assert not any(isinstance(m, nn.Linear) for m in list(G.modules()) + list(D.modules()))


def test_init_is_normal_0_002():
    torch.manual_seed(0)
    G = Generator(ModelConfig(image_size=64, ngf=64))
    w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(w.mean().item()) < 1e-3
    assert w.std().item() == pytest.approx(0.02, rel=0.02)


def test_imagenet32_probe_architecture():
    # the authors' 32x32 ImageNet D: 128,128,256,256,512,512 channels at 32,16,16,8,8,4 px
    cfg = ModelConfig(image_size=32, channels=3, nz=256, ngf=128, ndf=128, arch="imagenet32")
    D = Discriminator(cfg)
    assert D.feature_shapes() == [
        (128, 32, 32),
        (128, 16, 16),
        (256, 16, 16),
        (256, 8, 8),
        (512, 8, 8),
        (512, 4, 4),
    ]
    assert all(b[0].kernel_size == (3, 3) for b in D.blocks)
    assert sum(c for c, _, _ in D.feature_shapes()) * 16 == 28672
    G = Generator(cfg)
    assert G(torch.rand(2, 256)).shape == (2, 3, 32, 32)


@pytest.mark.parametrize(
    "bad",
    [
        dict(image_size=48),
        dict(image_size=8),
        dict(image_size=512),
        dict(channels=2),
        dict(arch="resnet"),
        dict(arch="imagenet32", image_size=64),
        dict(nz=0),
    ],
)
def test_bad_configs_are_refused(bad):
    with pytest.raises(ValueError):
        ModelConfig(**bad)
