import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skysense.bistatic import Scenario
from skysense.learn import C2vnn3dConfig, C2vnnConfig, build_c2vnn, count_flops
from skysense.learn.c2vnn.layers import (
    ComplexConv2d,
    ComplexConv3d,
    ComplexLinear,
    complex_relu,
    from_real_pairs,
    to_real_pairs,
)


def _complex_params(layer):
    w = layer.weight_re.detach().double().numpy() + 1j * layer.weight_im.detach().double().numpy()
    b = layer.bias_re.detach().double().numpy() + 1j * layer.bias_im.detach().double().numpy()
    return w, b


def _randomise(layer, rng):
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(p.shape).astype(np.float32)))


def test_complex_conv2d_is_complex_cross_correlation(rng):
    """Eq. (22) by loops over the complex arithmetic definition (zero padding 1)."""
    layer = ComplexConv2d(2, 3, 3, padding=1)
    _randomise(layer, rng)
    z = rng.standard_normal((2, 2, 5, 4)) + 1j * rng.standard_normal((2, 2, 5, 4))
    out = from_real_pairs(layer(to_real_pairs(torch.from_numpy(z).to(torch.complex64))))
    w, b = _complex_params(layer)
    zp = np.pad(z, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.empty((2, 3, 5, 4), complex)
    for n in range(2):
        for f in range(3):
            for i in range(5):
                for j in range(4):
                    ref[n, f, i, j] = np.sum(w[f] * zp[n, :, i : i + 3, j : j + 3]) + b[f]
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-4, atol=1e-4)


def test_complex_conv3d_matches_definition(rng):
    layer = ComplexConv3d(1, 2, (2, 1, 1))
    _randomise(layer, rng)
    z = rng.standard_normal((1, 1, 3, 2, 2)) + 1j * rng.standard_normal((1, 1, 3, 2, 2))
    out = from_real_pairs(layer(to_real_pairs(torch.from_numpy(z).to(torch.complex64))))
    w, b = _complex_params(layer)
    ref = np.stack(
        [w[f, 0, 0, 0, 0] * z[0, 0, :-1] + w[f, 0, 1, 0, 0] * z[0, 0, 1:] + b[f] for f in range(2)]
    )
    np.testing.assert_allclose(out.detach().numpy()[0], ref, rtol=1e-4, atol=1e-4)


def test_complex_linear_and_crelu(rng):
    layer = ComplexLinear(4, 3)
    _randomise(layer, rng)
    z = rng.standard_normal((5, 4)) + 1j * rng.standard_normal((5, 4))
    out = from_real_pairs(layer(to_real_pairs(torch.from_numpy(z).to(torch.complex64))))
    w, b = _complex_params(layer)
    np.testing.assert_allclose(out.detach().numpy(), z @ w.T + b, rtol=1e-4, atol=1e-4)
    # Eq. (24): CReLU(z) = ReLU(Re z) + j ReLU(Im z).
    c = torch.tensor([[1.0 - 2.0j, -3.0 + 4.0j]])
    np.testing.assert_array_equal(
        from_real_pairs(complex_relu(to_real_pairs(c))).numpy(), [[1.0 + 0j, 4.0j]]
    )


def test_network_shape_seed_and_flops():
    cfg = C2vnnConfig(scenario=Scenario(n_tx=3, n_rx=4, n_subcarriers=16), window=3, n_filters=2)
    a, b, c = (build_c2vnn(cfg, rng=r) for r in (1, 1, 2))
    x = torch.randn(7, 6, 3, 4, generator=torch.Generator().manual_seed(0))
    assert a(x).shape == (7, 3)
    assert torch.equal(a(x), b(x))
    assert not torch.equal(a(x), c(x))
    # 2 convs (F*W*9*nt*nr, F*F*9*nt*nr MACs), fc1 (H*F*nt*nr), fc2 (3*H); 8 real flops per MAC.
    macs = 2 * 3 * 9 * 12 + 2 * 2 * 9 * 12 + 64 * 2 * 12 + 3 * 64
    assert count_flops(cfg) == 8 * macs + 2 * 2 * (2 * 2 * 12 + 64 + 3)


def test_config_validation():
    with pytest.raises(ValueError, match="window must be odd"):
        C2vnnConfig(window=4)
    with pytest.raises(ValueError, match="n_subframes must be >= 2"):
        C2vnn3dConfig(n_subframes=1)
    with pytest.raises(TypeError, match="Scenario"):
        C2vnnConfig(scenario="default")
    cfg = C2vnnConfig(window=5)
    assert C2vnnConfig.from_dict(cfg.to_dict()) == cfg
    cfg3 = C2vnn3dConfig(window=5, n_subframes=6)
    assert C2vnn3dConfig.from_dict(cfg3.to_dict()) == cfg3


@pytest.mark.parametrize("three_d", [False, True], ids=["2d", "3d"])
def test_count_flops_matches_the_layers(three_d):
    """count_flops against complex MACs read off the layers of a forward pass (hooks)."""
    sc = Scenario(n_tx=3, n_rx=4, n_subcarriers=16)
    if three_d:
        cfg = C2vnn3dConfig(scenario=sc, window=3, n_filters=2, n_hidden=8, n_subframes=5)
        net, n_out = build_c2vnn(cfg, rng=0), 4
    else:
        cfg = C2vnnConfig(scenario=sc, window=3, n_filters=2, n_hidden=8)
        net, n_out = build_c2vnn(cfg, rng=0), 3
    macs, outputs = [], []

    def hook(layer, args, out):
        n_real_out = out[0].numel()  # real pairs: 2 x complex outputs
        fan_in = layer.weight_re[0].numel()  # complex inputs per complex output
        macs.append(n_real_out // 2 * fan_in)
        outputs.append(n_real_out)

    for layer in (net.conv1, net.conv2, net.fc1, net.fc2):
        layer.register_forward_hook(hook)
    frames = (cfg.n_subframes,) if three_d else ()
    assert net(torch.zeros(1, 6, *frames, 3, 4)).shape == (1, n_out)
    # 8 real flops per complex MAC; bias and ReLU: 2 per real output.
    assert count_flops(cfg) == 8 * sum(macs) + 2 * sum(outputs)
