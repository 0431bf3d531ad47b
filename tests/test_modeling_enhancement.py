import pytest
import torch

from srtod_d2.modeling import DifferenceMapEnhancement, difference_map


def algorithm1(x, recon, image, t, mlp, resize="nearest"):
    """Algorithm 1 of the paper, written independently with plain tensor ops."""
    d = (recon - image).abs().sum(1, keepdim=True) / recon.shape[1]
    db = (torch.sign(d - t) + 1) / 2
    n, c, h, w = x.shape
    H, W = db.shape[-2:]
    if resize == "nearest":
        rows = (torch.arange(h) * H // h).long()
        cols = (torch.arange(w) * W // w).long()
        small = db[:, :, rows][:, :, :, cols]
    else:
        small = db.reshape(n, 1, h, H // h, w, W // w).amax(dim=(3, 5))
    fc1, fc2 = mlp[0], mlp[2]

    def f(v):
        return torch.relu(v @ fc1.weight.T + fc1.bias) @ fc2.weight.T + fc2.bias

    avg = x.reshape(n, c, -1).mean(-1)
    mx = x.reshape(n, c, -1).max(-1).values
    scale = torch.sigmoid(f(avg) + f(mx)).reshape(n, c, 1, 1)
    return x * scale * small + x * scale, db


@pytest.mark.parametrize("resize", ["nearest", "max"])
def test_dgfe_matches_algorithm1(resize):
    torch.manual_seed(0)
    m = DifferenceMapEnhancement(64, threshold_init=0.1, reduction=16, mask_resize=resize)
    x = torch.randn(2, 64, 5, 6)
    recon, image = torch.rand(2, 3, 20, 24), torch.rand(2, 3, 20, 24)
    out, binary = m(x, difference_map(recon, image))
    ref, ref_binary = algorithm1(x, recon, image, 0.1, m.reweighting.mlp, resize)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(binary, ref_binary)
    assert m.reweighting.mlp[0].out_features == 4


def test_max_resize_keeps_a_two_pixel_object_that_nearest_skips():
    m_near = DifferenceMapEnhancement(8, threshold_init=0.1, mask_resize="nearest")
    m_max = DifferenceMapEnhancement(8, threshold_init=0.1, mask_resize="max")
    diff = torch.zeros(1, 1, 16, 16)
    diff[0, 0, 5:7, 9:11] = 0.5  # a 2x2 object not on the stride-4 sampling grid
    near = m_near.resize(m_near.binarize(diff), (4, 4))
    mx = m_max.resize(m_max.binarize(diff), (4, 4))
    assert near.sum() == 0
    assert mx[0, 0, 1, 2] == 1 and mx.sum() == 1


def test_threshold_gradient_zero_in_reference_mode_and_nonzero_with_surrogate():
    torch.manual_seed(0)
    x = torch.randn(1, 16, 4, 4)
    diff = torch.rand(1, 1, 16, 16) * 0.2
    grads = {}
    for mode in ("none", "ste"):
        m = DifferenceMapEnhancement(16, threshold_init=0.1, threshold_grad=mode)
        out, _ = m(x, diff)
        out.sum().backward()
        grads[mode] = m.threshold.grad
    assert grads["none"] is None or float(grads["none"]) == 0.0
    assert float(grads["ste"]) != 0.0


def test_surrogate_forward_equals_reference_and_gradient_matches_sigmoid_derivative():
    diff = torch.tensor([[[[0.05, 0.1, 0.2, 0.3]]]])
    m = DifferenceMapEnhancement(4, threshold_init=0.15, threshold_grad="ste", ste_tau=0.05)
    b = m.binarize(diff)
    torch.testing.assert_close(b, torch.tensor([[[[0.0, 0.0, 1.0, 1.0]]]]))
    b.sum().backward()
    s = torch.sigmoid((diff - 0.15) / 0.05)
    torch.testing.assert_close(m.threshold.grad, -(s * (1 - s) / 0.05).sum())


def test_threshold_clamped_so_mask_is_never_all_ones_or_nan():
    m = DifferenceMapEnhancement(4, threshold_init=0.01)
    with torch.no_grad():
        m.threshold.fill_(-5.0)
    diff = torch.zeros(1, 1, 8, 8)  # a perfect reconstruction
    b = m.binarize(diff)
    assert b.sum() == 0 and torch.isfinite(b).all()
    with torch.no_grad():
        m.threshold.fill_(float("inf"))
    assert float(m.effective_threshold().detach()) == pytest.approx(254.5 / 255)


@pytest.mark.parametrize("kwargs, match", [
    (dict(threshold_init=4.0), "THRESHOLD_INIT"),
    (dict(threshold_range=(0.0, 0.5)), "THRESHOLD_RANGE"),
    (dict(threshold_grad="learn"), "THRESHOLD_GRAD"),
    (dict(mask_resize="bilinear"), "MASK_RESIZE"),
    (dict(mask_dilation=2), "MASK_DILATION"),
    (dict(mask_dilation=0), "MASK_DILATION"),
    (dict(mask_dilation=3.0), "MASK_DILATION"),
])
def test_bad_settings_name_the_config_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DifferenceMapEnhancement(16, **kwargs)


def test_median_base_counts_t_from_each_images_median_on_the_sampled_grid():
    torch.manual_seed(0)
    diff = torch.rand(2, 1, 12, 16) * 0.3
    diff[1] += 0.4  # the second image reconstructs worse everywhere
    m = DifferenceMapEnhancement(8, threshold_init=0.05, threshold_base="median")
    binary = m.binarize(diff, median_stride=4)
    for i in range(2):
        grid = diff[i, 0, ::4, ::4].flatten().sort().values.tolist()
        med = grid[(len(grid) - 1) // 2]  # torch.median's lower middle value
        expected = (diff[i, 0] > med + 0.05).float()
        torch.testing.assert_close(binary[i, 0], expected)
        assert 0.2 < float(expected.mean()) < 0.6  # neither all ones nor empty


def test_median_base_reads_each_image_inside_its_own_size_not_the_padding():
    torch.manual_seed(1)
    diff = torch.zeros(2, 1, 16, 24)  # padding reconstructs "perfectly": difference 0
    diff[0, :, :16, :24] = torch.rand(16, 24) * 0.3
    diff[1, :, :8, :12] = torch.rand(8, 12) * 0.3  # the smaller image; the rest is its padding
    m = DifferenceMapEnhancement(8, threshold_init=0.02, threshold_base="median")
    binary = m.binarize(diff, median_stride=2, image_sizes=[(16, 24), (8, 12)])
    alone = m.binarize(diff[1:, :, :8, :12].clone(), median_stride=2)
    torch.testing.assert_close(binary[1:, :, :8, :12], alone)
    grid = diff[1, 0, :8:2, :12:2].flatten().sort().values
    assert torch.equal(alone[0, 0], (diff[1, 0, :8, :12] > grid[(len(grid) - 1) // 2] + 0.02).float())
    # without the sizes the padding's zeros pull the median down and mark most of the image
    padded = m.binarize(diff, median_stride=2)
    assert float(padded[1, 0, :8, :12].mean()) > float(alone.mean()) + 0.2


def test_median_base_keeps_an_object_apart_from_a_poorly_reconstructed_background():
    diff = torch.full((1, 1, 16, 16), 20 / 255)  # the background is 20/255 off everywhere
    diff[0, 0, 4:6, 8:10] = 60 / 255  # one 2x2 object reconstructs worse
    zero = DifferenceMapEnhancement(8, threshold_init=8 / 255).binarize(diff)
    median = DifferenceMapEnhancement(8, threshold_init=8 / 255, threshold_base="median").binarize(diff)
    assert zero.sum() == 256  # the paper's rule: every pixel is 1
    assert median.sum() == 4 and median[0, 0, 4:6, 8:10].sum() == 4


def test_median_base_still_sends_the_surrogate_gradient_to_t():
    diff = torch.rand(1, 1, 8, 8, requires_grad=True)
    m = DifferenceMapEnhancement(4, threshold_init=0.05, threshold_grad="ste", threshold_base="median")
    m.binarize(diff).sum().backward()
    assert float(m.threshold.grad) < 0  # raising t turns pixels off
    assert diff.grad is None  # the reconstruction is trained by its own loss only


def test_bad_threshold_base_names_the_config_key():
    with pytest.raises(ValueError, match="THRESHOLD_BASE.*'mean'"):
        DifferenceMapEnhancement(16, threshold_base="mean")


def test_map_weight_scales_only_the_map_not_the_attention():
    torch.manual_seed(0)
    m = DifferenceMapEnhancement(16, threshold_init=0.1)
    x = torch.randn(1, 16, 4, 4)
    mask = (torch.rand(1, 1, 4, 4) > 0.5).float()
    scale = m.reweighting(x)
    for w in (0.0, 0.25, 1.0):
        m.map_weight = w
        torch.testing.assert_close(m.enhance(x, mask), x * scale + w * x * scale * mask)
    m.map_weight = 0.25
    m.eval()
    torch.testing.assert_close(m.enhance(x, mask), x * scale + x * scale * mask)


@pytest.mark.parametrize("kernel", [3, 5])
def test_mask_dilation_doubles_every_cell_within_half_the_kernel_of_a_mark(kernel):
    torch.manual_seed(0)
    m = DifferenceMapEnhancement(16, threshold_init=0.1, mask_dilation=kernel)
    x = torch.randn(2, 16, 7, 9)
    mask = (torch.rand(2, 1, 7, 9) > 0.9).float()
    mask[0, 0, 0, 0] = 1  # a mark on the border spreads inward only
    # a cell is doubled where a mark lies within kernel // 2 cells on both axes
    r = kernel // 2
    marks = mask[:, 0].nonzero().tolist()
    dilated = torch.zeros_like(mask)
    for n, i, j in marks:
        dilated[n, 0, max(i - r, 0): i + r + 1, max(j - r, 0): j + r + 1] = 1
    assert 0 < mask.mean() < dilated.mean() < 1
    torch.testing.assert_close(m.enhance(x, mask), x * m.reweighting(x) * (dilated + 1))


def test_mask_dilation_of_one_leaves_the_map_as_it_is():
    torch.manual_seed(0)
    m = DifferenceMapEnhancement(16, threshold_init=0.1)
    x = torch.randn(1, 16, 4, 4)
    mask = (torch.rand(1, 1, 4, 4) > 0.5).float()
    torch.testing.assert_close(m.enhance(x, mask), x * m.reweighting(x) * (mask + 1))


def test_map_dropout_zeros_whole_images_maps_in_training_only():
    torch.manual_seed(0)
    m = DifferenceMapEnhancement(16, threshold_init=0.1, map_dropout=0.3)
    n = 400
    x = torch.randn(n, 16, 3, 5)
    mask = (torch.rand(n, 1, 3, 5) > 0.5).float()
    mask[:, 0, 0, 0] = 1  # every image has a mark, so a dropped map shows
    scale = m.reweighting(x)
    out = m.enhance(x, mask)
    with_map = x * scale * (mask + 1)
    without = x * scale
    dropped = torch.tensor([torch.allclose(o, w) for o, w in zip(out, without)])
    kept = torch.tensor([torch.allclose(o, w) for o, w in zip(out, with_map)])
    assert bool((dropped ^ kept).all())  # each image's map is whole or zeros, never part of it
    # 400 draws at p = 0.3: mean 120, standard deviation 9.2; 4 standard deviations either side
    assert 83 <= int(dropped.sum()) <= 157
    m.eval()
    torch.testing.assert_close(m.enhance(x, mask), with_map)


def test_map_dropout_of_zero_draws_nothing():
    torch.manual_seed(0)
    m = DifferenceMapEnhancement(16, threshold_init=0.1)
    x = torch.randn(2, 16, 4, 4)
    mask = (torch.rand(2, 1, 4, 4) > 0.5).float()
    state = torch.get_rng_state()
    out = m.enhance(x, mask)
    # the paper's setting leaves the random stream as it was, so its runs repeat earlier ones
    assert torch.equal(torch.get_rng_state(), state)
    torch.testing.assert_close(out, x * m.reweighting(x) * (mask + 1))


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_bad_map_dropout_names_the_config_key(p):
    with pytest.raises(ValueError, match=rf"MAP_DROPOUT must be in \[0, 1\), got {p}"):
        DifferenceMapEnhancement(16, map_dropout=p)
