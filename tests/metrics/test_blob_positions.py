import itertools
from collections import deque

import numpy as np
import pytest

from skysense.imaging import Scenario
from skysense.metrics import ospa, ospa_batch, positions_from_image

DTYPES = [np.float32, np.float64]


def naive_blob_centroids(image, centers, threshold=0.1):
    """Flood fill (full neighbourhood) of one 2-D/3-D image; blobs in C order of their
    first voxel; unweighted mean of the voxel centres."""
    mask = np.asarray(image) > threshold
    seen = np.zeros_like(mask)
    offsets = [d for d in itertools.product((-1, 0, 1), repeat=mask.ndim) if any(d)]
    out = []
    for start in itertools.product(*(range(n) for n in mask.shape)):
        if not mask[start] or seen[start]:
            continue
        seen[start] = True
        queue, members = deque([start]), []
        while queue:
            v = queue.popleft()
            members.append(v)
            for d in offsets:
                u = tuple(a + b for a, b in zip(v, d, strict=True))
                if (
                    all(0 <= a < n for a, n in zip(u, mask.shape, strict=True))
                    and mask[u]
                    and not seen[u]
                ):
                    seen[u] = True
                    queue.append(u)
        out.append([np.mean([centers[k][m[k]] for m in members]) for k in range(mask.ndim)])
    return np.array(out).reshape(-1, mask.ndim)


def test_hand_made_2d():
    xc, yc = 10.0 + 3.0 * np.arange(8), -5.0 + 2.0 * np.arange(6)
    img = np.zeros((1, 8, 6))
    img[0, 1:3, 1:3] = [[0.2, 0.2], [0.2, 0.6]]  # 2x2 blob
    img[0, 7, 5] = 0.5  # single voxel in the far corner
    img[0, 5, 0] = 0.1  # exactly at the threshold: not a blob (strict >)
    (pos,) = positions_from_image(img, (xc, yc))
    np.testing.assert_allclose(pos, [[10 + 4.5, -5 + 3.0], [10 + 21.0, -5 + 10.0]], rtol=1e-15)
    (w,) = positions_from_image(img, (xc, yc), method="weighted")
    # weights 0.2, 0.2, 0.2, 0.6 at x = 13, 13, 16, 16 and y = -3, -1, -3, -1
    np.testing.assert_allclose(w[0], [(0.4 * 13 + 0.8 * 16) / 1.2, (0.4 * -3 + 0.8 * -1) / 1.2])
    (peak,) = positions_from_image(img, (xc, yc), method="peak")
    np.testing.assert_allclose(peak, [[16.0, -1.0], [31.0, 5.0]])


def test_connectivity_2d_and_3d():
    img = np.zeros((1, 5, 5))
    img[0, 1, 1] = img[0, 2, 2] = 1.0  # diagonal neighbours
    axes = (np.arange(5.0), np.arange(5.0))
    assert positions_from_image(img, axes)[0].shape == (1, 2)
    assert positions_from_image(img, axes, connectivity=8)[0].shape == (1, 2)
    assert positions_from_image(img, axes, connectivity=4)[0].shape == (2, 2)
    vol = np.zeros((1, 4, 4, 4))
    vol[0, 1, 1, 1] = vol[0, 2, 2, 2] = 1.0  # corner neighbours in 3-D
    axes3 = (np.arange(4.0),) * 3
    np.testing.assert_allclose(positions_from_image(vol, axes3)[0], [[1.5, 1.5, 1.5]])
    assert positions_from_image(vol, axes3, connectivity=18)[0].shape == (2, 3)
    assert positions_from_image(vol, axes3, connectivity=6)[0].shape == (2, 3)


def test_frames_are_not_connected():
    img = np.zeros((3, 4, 4))
    img[:, 2, 2] = 1.0
    out = positions_from_image(img, (np.arange(4.0), np.arange(4.0)))
    assert [p.shape for p in out] == [(1, 2)] * 3


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_naive_flood_fill(rng, dtype):
    xc, yc, zc = (
        np.sort(rng.uniform(0, 50, 9)),
        np.linspace(-7, 7, 7),
        np.array([3.0, 5.0, 9.0, 10.0]),
    )
    imgs = (rng.random((6, 9, 7)) ** 4).astype(dtype)  # sparse-ish random blobs
    got = positions_from_image(imgs, (xc, yc))
    for g, img in zip(got, imgs, strict=True):
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, naive_blob_centroids(img, (xc, yc)), rtol=1e-12)
    vols = (rng.random((3, 9, 7, 4)) ** 6).astype(dtype)
    got = positions_from_image(vols, (xc, yc, zc))
    for g, vol in zip(got, vols, strict=True):
        np.testing.assert_allclose(g, naive_blob_centroids(vol, (xc, yc, zc)), rtol=1e-12)


def test_scenario_layouts_and_all_zero_ospa():
    scen = Scenario()  # 2-D paper ROI: 40 x 40 x 1 voxels at z = 40 m
    n_frames = 3
    img = np.zeros((n_frames, *scen.grid_shape))
    img[1, 0, 0, 0] = img[2, 39, 20, 0] = 0.9
    ref = positions_from_image(img, scen)
    for layout in (img[..., 0], img.reshape(n_frames, -1)):
        for a, b in zip(positions_from_image(layout, scen), ref, strict=True):
            np.testing.assert_array_equal(a, b)
    assert ref[0].shape == (0, 3)
    np.testing.assert_allclose(ref[1], [[-58.5, -58.5, 40.0]])
    np.testing.assert_allclose(ref[2], [[58.5, 1.5, 40.0]])
    truth = scen.voxel_centers_m()[[5, 100, 333, 700, 1000, 1500]]
    # an all-zero output scores OSPA = c = 50 exactly (Tables III/IV)
    assert ospa(ref[0], truth, cutoff_m=50.0, truncate=False) == 50.0
    estimated = positions_from_image(np.zeros((4, 1600)), scen)
    np.testing.assert_array_equal(
        ospa_batch(estimated, [truth] * 4, cutoff_m=50.0, truncate=False), 50.0
    )


@pytest.mark.parametrize(
    ("image", "grid", "kwargs", "exc", "match"),
    [
        (np.zeros((1, 5, 5)), np.zeros((5, 5)), {}, TypeError, "grid must be a Scenario"),
        (np.zeros((1, 5, 5)), (np.arange(5.0),), {}, ValueError, "grid must hold 2 or 3"),
        (
            np.zeros((1, 5, 5)),
            (np.arange(5.0), np.zeros((5, 1))),
            {},
            ValueError,
            r"grid\[1\] must be",
        ),
        (
            np.zeros((1, 5, 5)),
            (np.arange(5.0), [0, np.nan, 1, 2, 3]),
            {},
            ValueError,
            r"grid\[1\] contains",
        ),
        (np.zeros((1, 5, 6)), (np.arange(5.0),) * 2, {}, ValueError, "image must have shape"),
        (np.zeros((5, 5)), (np.arange(5.0),) * 2, {}, ValueError, "image must have shape"),
        (
            np.zeros((1, 5, 5)),
            (np.arange(5.0),) * 2,
            {"connectivity": 26},
            ValueError,
            r"one of \(4, 8\)",
        ),
        (
            np.zeros((1, 5, 5)),
            (np.arange(5.0),) * 2,
            {"connectivity": 8.0},
            TypeError,
            "connectivity",
        ),
        (
            np.zeros((1, 5, 5)),
            (np.arange(5.0),) * 2,
            {"method": "max"},
            ValueError,
            "method must be",
        ),
        (
            np.zeros((1, 5, 5)),
            (np.arange(5.0),) * 2,
            {"method": "weighted", "threshold": -1.0},
            ValueError,
            "threshold >= 0",
        ),
        (
            np.zeros((1, 5, 5)),
            (np.arange(5.0),) * 2,
            {"threshold": np.nan},
            ValueError,
            "threshold must be finite",
        ),
        (np.full((1, 5, 5), np.nan), (np.arange(5.0),) * 2, {}, ValueError, "image contains NaN"),
        (np.zeros((0, 5, 5)), (np.arange(5.0),) * 2, {}, ValueError, "empty batch"),
    ],
)
def test_bad_input(image, grid, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        positions_from_image(image, grid, **kwargs)
