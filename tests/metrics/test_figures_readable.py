"""Issue 17 item 15: figures that do not mislead (before/after images: docs/img/issue17_*.png)."""
import pytest
import torch

from nnsafety._plot import pyplot
from nnsafety.metrics.accuracy import ClassificationResult
from nnsafety.metrics.boundary import BoundaryResult
from nnsafety.metrics.landscape import LandscapeResult
from nnsafety.metrics.spectral import FirstLayerResult


def _bins(counts, accs, confs):
    edges = [i / 15 for i in range(16)]
    return [{"lower": edges[i], "upper": edges[i + 1], "count": c, "accuracy": a, "confidence": f}
            for i, (c, a, f) in enumerate(zip(counts, accs, confs))]


def test_reliability_diagram_has_its_diagonal_counts_and_marks_small_bins():
    counts = [0] * 8 + [1, 0, 3, 0, 20, 0, 126]
    accs = [0.0] * 8 + [1.0, 0, 0.0, 0, 0.9, 0, 0.99]
    confs = [0.0] * 8 + [0.57, 0, 0.70, 0, 0.85, 0, 0.98]
    res = ClassificationResult(accuracy=0.97, loss=0.1, ece=0.02, n=150, reliability=_bins(counts, accs, confs))
    fig, ax = pyplot().subplots()
    res.plot(ax)
    assert any(list(line.get_xdata()) == [0, 1] and list(line.get_ydata()) == [0, 1] for line in ax.lines)
    assert sorted(t.get_text() for t in ax.texts) == sorted(["1", "3", "20", "126"])
    assert "bins of < 5 images" in [t.get_text() for t in ax.get_legend().get_texts()]
    pyplot().close(fig)
    # the comparison's line merges bins to >= 10 images: (1 + 3 + 20) then 126, weighted by counts
    curve = res.reliability_curve(min_count=10)
    assert curve["count"] == [24, 126]
    assert curve["y"][0] == pytest.approx((1 * 1.0 + 3 * 0.0 + 20 * 0.9) / 24)
    assert curve["x"][0] == pytest.approx((0.57 + 3 * 0.70 + 20 * 0.85) / 24)


def test_first_layer_grid_padding_is_not_a_weight_colour():
    w = torch.linspace(-1, 1, 5 * 9).reshape(5, 1, 3, 3)  # 5 filters: a 3×3 layout with 4 empty cells
    fig, ax = pyplot().subplots()
    FirstLayerResult("conv", "Conv2d", w).plot(ax)
    img = ax.images[0]
    data = img.get_array()
    assert data.mask.sum() > 0  # padding and empty cells are masked (NaN), not 1.0 (dark red)
    assert img.get_cmap().get_bad()[:3] == pytest.approx((0xF0 / 255,) * 3)
    pyplot().close(fig)


def test_coarse_landscape_has_a_colour_bar_and_no_piled_labels():
    coords = [-1.0, -0.5, 0.0, 0.5, 1.0]
    loss = [[0.1 + x * x + y * y for y in coords] for x in coords]
    res = LandscapeResult(coords=coords, loss=loss, accuracy=[[1.0] * 5] * 5, dims=2,
                          directions="filter_normalized")
    fig, ax = pyplot().subplots()
    res.plot(ax)
    assert len(ax.texts) == 0  # no contour labels on a 5×5 grid
    assert len(fig.axes) == 2  # the colour bar
    assert "5×5 points" in ax.get_title()
    pyplot().close(fig)


def test_decision_plane_has_a_class_legend():
    res = BoundaryResult(xs=[0.0, 1.0], ys=[0.0, 1.0], pred=[[3, 3], [5, 7]], confidence=[[1.0, 1.0], [1.0, 1.0]],
                         points=[[0.0, 0.0]], labels=[3], kind="plane")
    fig, ax = pyplot().subplots()
    res.plot(ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class 3", "class 5", "class 7"]
    pyplot().close(fig)


def test_sparse_ticks_keep_measured_eps_apart():
    from nnsafety.report.base import sparse_ticks

    fig, ax = pyplot().subplots()
    ax.plot([0, 0.01, 0.02, 0.05, 0.1, 0.2], [1, 0.9, 0.8, 0.5, 0.3, 0.1])
    sparse_ticks(ax, [0, 0.01, 0.02, 0.05, 0.1, 0.2])
    assert [round(t, 3) for t in ax.get_xticks()] == [0.0, 0.02, 0.05, 0.1, 0.2]
    pyplot().close(fig)
