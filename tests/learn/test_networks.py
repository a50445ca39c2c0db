import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skysense.learn import ARCHITECTURES, PAPER_CHANNELS, ImagerConfig, build_imager_net


def _n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("kernel", "expected"), [(5, 5_283_555), (3, 1_905_891)])
def test_paper_rescnn_parameter_count(kernel, expected):
    """The authors' resCNN with the paper's channel list (imaging paper, Sec. IV-B)."""
    model = build_imager_net(ImagerConfig(channels=PAPER_CHANNELS, kernel_size=kernel), rng=0)
    assert _n_params(model) == expected


def test_rescnn_blocks_have_projection_shortcuts_and_cnn_none():
    res = build_imager_net(ImagerConfig(arch="rescnn", channels=(4, 4, 6), kernel_size=3), rng=0)
    plain = build_imager_net(ImagerConfig(arch="cnn", channels=(4, 4, 6), kernel_size=3), rng=0)
    assert len(res.blocks) == 2
    # a k x k projection even when the widths are equal
    assert res.blocks[0].shortcut[0].kernel_size == (3, 3)
    assert res.blocks[0].shortcut[0].in_channels == res.blocks[0].shortcut[0].out_channels == 4
    assert all(b.shortcut is None for b in plain.blocks)
    assert _n_params(res) > _n_params(plain)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("grid", [(7, 5), (5, 4, 3)])
def test_output_shape_and_range(arch, grid, rng):
    model = build_imager_net(
        ImagerConfig(arch=arch, grid_shape=grid, channels=(3, 4), kernel_size=3), rng=0
    ).eval()
    x = torch.from_numpy(rng.standard_normal((2, 2, *grid)).astype(np.float32))
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, *grid)
    assert out.dtype == torch.float32
    assert float(out.min()) >= 0.0
    assert float(out.max()) <= 1.0
    conv = type(model.stem[0]).__name__
    assert conv == ("Conv2d" if len(grid) == 2 else "Conv3d")


def test_input_scale_invariance(rng):
    """Each frame is divided by its largest magnitude: A^H y at 1e-8 or 1 gives one image."""
    model = build_imager_net(
        ImagerConfig(grid_shape=(6, 6), channels=(3, 3), kernel_size=3), rng=1
    ).eval()
    x = torch.from_numpy(rng.standard_normal((3, 2, 6, 6)))
    model = model.double()
    with torch.no_grad():
        torch.testing.assert_close(model(x * 1e-8), model(x), rtol=1e-10, atol=1e-12)
        zero = model(torch.zeros(1, 2, 6, 6, dtype=torch.float64))
    assert torch.isfinite(zero).all()


def test_denoising_variant_subtracts_predicted_residual(rng):
    model = build_imager_net(
        ImagerConfig(arch="dn-cnn", grid_shape=(5, 5), channels=(2, 2), kernel_size=3), rng=0
    )
    model = model.double().eval()
    x = torch.from_numpy(rng.standard_normal((2, 2, 5, 5)))
    with torch.no_grad():
        mag = torch.sqrt(x[:, 0] ** 2 + x[:, 1] ** 2)
        mag = mag / mag.amax(dim=(1, 2), keepdim=True)
        # the stem sees the input divided by its largest magnitude in the Dn variants
        scaled = x / torch.sqrt(x[:, 0:1] ** 2 + x[:, 1:2] ** 2).amax(dim=(1, 2, 3), keepdim=True)
        residual = model.head(model.blocks(model.stem(scaled)))[:, 0]
        torch.testing.assert_close(model(x), torch.clamp(mag - residual, 0, 1))


def test_measurement_input_is_resized_to_the_grid(rng):
    cfg = ImagerConfig(grid_shape=(8, 8), in_channels=4, input_shape=(5, 5), channels=(3,))
    model = build_imager_net(cfg, rng=0).eval()
    with torch.no_grad():
        out = model(torch.from_numpy(rng.standard_normal((2, 4, 5, 5)).astype(np.float32)))
    assert out.shape == (2, 8, 8)


def test_wrong_input_shape_raises():
    model = build_imager_net(ImagerConfig(grid_shape=(8, 8), channels=(3,), kernel_size=3), rng=0)
    with pytest.raises(ValueError, match=r"input must have shape \(batch, 2, 8, 8\)"):
        model(torch.zeros(1, 2, 8, 9))
    with pytest.raises(ValueError, match="input must have shape"):
        model(torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match="input must have shape"):
        model(torch.zeros(1, 1, 8, 8))


def test_seeded_build_is_reproducible_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    gen = np.random.default_rng(5)
    from_gen = build_imager_net(ImagerConfig(grid_shape=(4, 4), channels=(2, 3)), rng=gen)
    again = build_imager_net(ImagerConfig(grid_shape=(4, 4), channels=(2, 3)), rng=gen)
    assert not torch.equal(from_gen.stem[0].weight, again.stem[0].weight)  # the stream advanced
    a = build_imager_net(ImagerConfig(grid_shape=(4, 4), channels=(2, 3)), rng=5)
    b = build_imager_net(ImagerConfig(grid_shape=(4, 4), channels=(2, 3)), rng=5)
    c = build_imager_net(ImagerConfig(grid_shape=(4, 4), channels=(2, 3)), rng=6)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.stem[0].weight, b.stem[0].weight)
    assert not torch.equal(a.stem[0].weight, c.stem[0].weight)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"arch": "unet"}, "arch must be one of"),
        ({"kernel_size": 4}, "odd"),
        ({"grid_shape": (40,)}, "2 or 3"),
        ({"channels": ()}, "non-empty"),
        ({"channels": (4, 0)}, "positive"),
        ({"grid_shape": (8, 8), "input_shape": (8, 8, 2)}, "input_shape"),
        ({"arch": "dn-cnn", "in_channels": 3}, "Dn-"),
        ({"output_prior": 1.0}, "output_prior"),
        ({"magnitude": True, "in_channels": 1}, "magnitude"),
    ],
)
def test_config_validation(fields, match):
    with pytest.raises(ValueError, match=match):
        ImagerConfig(**fields)


def test_config_dict_round_trip():
    cfg = ImagerConfig(arch="dn-rescnn", grid_shape=(20, 20, 16), channels=(4, 8), kernel_size=3)
    assert ImagerConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model config fields"):
        ImagerConfig.from_dict({**cfg.to_dict(), "depth": 3})


def test_output_prior_initialises_a_sparse_output(rng):
    x = torch.from_numpy(rng.standard_normal((4, 2, 12, 12)).astype(np.float32))
    sparse = build_imager_net(
        ImagerConfig(grid_shape=(12, 12), channels=(3,), output_prior=0.01), rng=0
    )
    paper = build_imager_net(
        ImagerConfig(grid_shape=(12, 12), channels=(3,), output_prior=None), rng=0
    )
    with torch.no_grad():
        # training-mode BN standardises the head output: sigmoid(z + logit(p)) per voxel
        assert 0.004 < float(sparse(x).median()) < 0.025
        assert 0.35 < float(paper(x).median()) < 0.65


def test_magnitude_channel_feeds_the_modulus():
    cfg = ImagerConfig(grid_shape=(6, 6), channels=(2,), kernel_size=1, magnitude=True)
    model = build_imager_net(cfg, rng=0).double().eval()
    assert model.stem[0].in_channels == 3
    with torch.no_grad():
        model.stem[0].weight.zero_()
        model.stem[0].weight[:, 2] = 1.0  # only the appended |x| channel
        a = torch.zeros(1, 2, 6, 6, dtype=torch.float64)
        a[0, 0, 1, 1], a[0, 1, 2, 2] = 1.0, 0.5
        b = a.clone()
        b[0, :, 2, 2] = torch.tensor([0.3, 0.4])  # same modulus, other phase
        torch.testing.assert_close(model(a), model(b))


def test_voxel_gain_scales_the_input_per_voxel(rng):
    cfg = ImagerConfig(grid_shape=(6, 6), channels=(3,), kernel_size=3, voxel_gain=True)
    model = build_imager_net(cfg, rng=0).eval()
    assert torch.equal(model.voxel_gain, torch.ones(6, 6))  # neutral until set
    gain = torch.from_numpy(rng.uniform(0.1, 1.0, (6, 6)).astype(np.float32))
    x = torch.from_numpy(rng.standard_normal((2, 2, 6, 6)).astype(np.float32))
    plain = build_imager_net(ImagerConfig(grid_shape=(6, 6), channels=(3,), kernel_size=3), rng=0)
    with torch.no_grad():
        model.voxel_gain.copy_(gain)
        torch.testing.assert_close(model(x), plain.eval()(x * gain))
    with pytest.raises(ValueError, match="voxel_gain"):
        ImagerConfig(grid_shape=(6, 6), input_shape=(3, 3), in_channels=8, voxel_gain=True)
