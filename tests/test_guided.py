"""`ganlab visualize` (Fig. 5): the guided-backprop rule by hand, maximal responses, the grid."""

import json

import pytest
import torch
from PIL import Image
from torch import nn

from ganlab.core.nets import load_discriminator
from ganlab.data import load_dataset
from ganlab.experiments.visualize import GuidedReLU, guided_copy, layer_map, max_responses
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.images import to_unit


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run  # read only: grids go under each test's tmp_path


def tiny_net(w2):
    """x (2,) -> W1 x -> LeakyReLU(0.2) -> W2 . -> scalar, no biases."""
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.LeakyReLU(0.2), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -1.0], [1.0, 1.0]]))
        net[2].weight.copy_(torch.tensor([w2]))
    return net


def grad_of(net, x):
    x = x.clone().requires_grad_(True)
    net(x).sum().backward()
    return x.grad


@pytest.mark.parametrize(
    "w2, guided, plain",
    [
        # pre-activations W1 x = (1 - 2, 1 + 2) = (-1, 3); unit 1's input is negative
        ([2.0, 1.0], [1.0, 1.0], [1.4, 0.6]),  # guided: only unit 2 (input 3 > 0, grad 1 > 0)
        ([2.0, -1.0], [0.0, 0.0], [-0.6, -1.4]),  # unit 2's gradient is negative: blocked too
    ],
)
def test_guided_rule_by_hand(w2, guided, plain):
    x = torch.tensor([1.0, 2.0])
    net = tiny_net(w2)
    # plain backprop: d/dx = W1^T (w2 * leaky'(pre)), leaky' = (0.2, 1)
    assert torch.allclose(grad_of(net, x), torch.tensor(plain))
    g = guided_copy(net)
    assert isinstance(g[1], GuidedReLU) and isinstance(net[1], nn.LeakyReLU)  # a copy
    assert torch.equal(g(x), net(x))  # the forward pass is unchanged (still leaky)
    assert torch.allclose(grad_of(g, x), torch.tensor(guided))


def test_guided_rule_through_two_nonlinearities():
    # x -> a = relu(x) -> b = relu(M a) -> y = v . b
    net = nn.Sequential(
        nn.ReLU(), nn.Linear(3, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False)
    )
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]))
        net[3].weight.copy_(torch.tensor([[-1.0, 2.0]]))
    x = torch.tensor([1.0, 1.0, -1.0])
    # a = (1, 1, 0); M a = (1, 2), both on; the gradient arriving at b is v = (-1, 2).
    # plain: (-1, 2) -> M^T (-1, 2) = (1, 2, 1) -> relu'(x) = (1, 1, 0) -> (1, 2, 0)
    assert torch.equal(grad_of(net, x), torch.tensor([1.0, 2.0, 0.0]))
    # guided: the negative -1 is cut at b: (0, 2) -> M^T (0, 2) = (2, 2, 2) -> x > 0: (2, 2, 0)
    assert torch.equal(grad_of(guided_copy(net), x), torch.tensor([2.0, 2.0, 0.0]))
    # a negative gradient at the input nonlinearity is cut as well
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0, 0.0, 1.0], [1.0, -1.0, 1.0]]))
        net[3].weight.copy_(torch.tensor([[0.0, 1.0]]))
    x = torch.tensor([1.0, 0.5, 1.0])  # M a = (2, 1.5); grad at a = (1, -1, 1)
    assert torch.equal(grad_of(net, x), torch.tensor([1.0, -1.0, 1.0]))
    assert torch.equal(grad_of(guided_copy(net), x), torch.tensor([1.0, 0.0, 1.0]))


def test_max_responses_are_the_largest(run):
    D = load_discriminator(load_checkpoint(run))
    data = load_dataset("digits", split="all", image_size=16, channels=1)
    values, idx = max_responses(D, data, layer=1, features=3, top=5, batch_size=200)
    with torch.no_grad():
        resp = layer_map(D, to_unit(data.images), 1)[:, :3].flatten(2).amax(2).T  # (3, N)
    expect = resp.topk(5, dim=1)
    torch.testing.assert_close(values, expect.values)
    assert torch.equal(idx, expect.indices)


def test_guided_copy_of_d_keeps_its_output(run):
    D = load_discriminator(load_checkpoint(run))
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(guided_copy(D)(x), D(x))
    assert any(isinstance(m, nn.LeakyReLU) for m in D.modules())


def test_cli_grid_shapes(run, cli, tmp_path):
    out = tmp_path / "g.png"
    result = cli(
        "visualize",
        run,
        "--features",
        "3",
        "--top",
        "4",
        "--out",
        out,
        "--device",
        "cpu",
        "--workers",
        "0",
        "--json",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout)
    assert trained["layer"] == 1 and len(trained["indices"]) == 3
    assert Image.open(out).size == (2 + 4 * 18, 2 + 3 * 18)  # one row per feature
    result = cli(
        "visualize",
        run,
        "--features",
        "2",
        "--top",
        "3",
        "--with-images",
        "--random-init",
        "--layer",
        "0",
        "--out",
        out,
        "--device",
        "cpu",
        "--workers",
        "0",
        "--json",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    random = json.loads(result.stdout)
    assert random["random_init"] and random["layer"] == 0
    assert Image.open(out).size == (2 + 6 * 18, 2 + 2 * 18)  # image, guided pairs


def test_cli_bad_input(run, cli, tmp_path):
    out = tmp_path / "g.png"
    result = cli("visualize", run, "--layer", "7", "--out", out, "--device", "cpu")
    assert result.exit_code == 1 and "D has 2 conv layers" in result.stderr
    result = cli("visualize", run, "--features", "99", "--out", out, "--device", "cpu")
    assert result.exit_code == 1 and "--features 99 is more than" in result.stderr
    ckpt = load_checkpoint(run)
    from ganlab.io.checkpoint import save_checkpoint

    (tmp_path / "empty").mkdir()
    config = {
        **ckpt.train_config,
        "dataset": "folder",
        "split": "train",
        "data_root": str(tmp_path / "empty"),
    }
    save_checkpoint(tmp_path / "folder.pt", {**ckpt.state, "config": config})
    result = cli("visualize", tmp_path / "folder.pt", "--out", out, "--device", "cpu")
    assert result.exit_code == 1 and "No image files found" in result.stderr
    assert "Traceback" not in result.output and not out.exists()
