"""The layer palette: search, drag payload, adding by double-click or Enter, tooltips, icons."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from studio.graph.catalogue import CATALOGUE, categories, get_spec
from studio.ui.icons import category_icon, category_pixmap, layer_icon
from studio.ui.mime import LAYER_MIME
from studio.ui.palette import TYPE_ROLE, PaletteWidget, layer_tooltip
from studio.ui.theme import current_theme


@pytest.fixture
def palette(qtbot):
    widget = PaletteWidget()
    qtbot.addWidget(widget)
    widget.resize(260, 600)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _proxy_index(palette: PaletteWidget, layer_type: str):
    for row in range(palette.proxy.rowCount()):
        group = palette.proxy.index(row, 0)
        for child in range(palette.proxy.rowCount(group)):
            index = palette.proxy.index(child, 0, group)
            if index.data(TYPE_ROLE) == layer_type:
                return index
    raise AssertionError(f"{layer_type} is not shown")


def test_every_layer_is_listed_under_its_category(palette):
    assert palette.objectName() == "palette"
    assert sorted(palette.visible_layer_types()) == sorted(CATALOGUE)
    assert palette.visible_categories() == categories()


def test_search_lists_the_matches_best_first_in_one_list(palette):
    palette.set_filter("conv")
    shown = palette.visible_layer_types()
    assert shown[:6] == ["Conv2d", "Conv1d", "Conv3d", "ConvTranspose2d", "ConvTranspose1d", "ConvTranspose3d"]
    assert palette.tree.model() is palette.results and not palette.tree.rootIsDecorated()
    assert palette.tree.currentIndex().data(TYPE_ROLE) == "Conv2d"  # what Enter adds is marked
    assert palette.visible_categories()[0] == "Convolution"
    assert "ReLU" not in shown and "Activation" not in palette.visible_categories()
    assert palette.search.text() == "conv"

    palette.set_filter("POOLING")  # a category name, any case: all its layers
    pooling = {s.type for s in CATALOGUE.values() if s.category == "Pooling"}
    assert pooling <= set(palette.visible_layer_types())

    palette.set_filter("")
    assert palette.tree.model() is palette.proxy and palette.tree.rootIsDecorated()
    assert palette.visible_categories() == categories()


def test_enter_in_the_search_box_adds_the_top_match_not_a_description_match(palette, qtbot):
    for query, top in (("output", "Output"), ("input", "Input"), ("relu", "ReLU"), ("max pool", "MaxPool2d"), ("dense", "Linear")):
        palette.set_filter(query)
        with qtbot.waitSignal(palette.add_requested) as blocker:
            qtbot.keyClick(palette.search, Qt.Key.Key_Return)
        assert blocker.args == [top], query
    assert palette.visible_layer_types()[0] == "Linear"
    palette.set_filter("zzzqqq")
    with qtbot.assertNotEmitted(palette.add_requested):
        qtbot.keyClick(palette.search, Qt.Key.Key_Return)


def test_a_search_result_drags_out_as_its_layer(palette):
    palette.set_filter("gelu")
    index = palette.results.index(0, 0)
    assert bytes(palette.results.mimeData([index]).data(LAYER_MIME)).decode() == "GELU"
    assert palette.results.flags(index) & Qt.ItemFlag.ItemIsDragEnabled
    assert "Gaussian" in index.data(Qt.ItemDataRole.ToolTipRole)


def test_math_layers_have_their_own_category_after_the_activations(palette):
    shown = palette.visible_categories()
    assert shown.index("Math") == shown.index("Activation") + 1
    palette.set_filter("math")
    assert set(palette.visible_layer_types()) == {s.type for s in CATALOGUE.values() if s.category == "Math"}
    assert {"Exp", "Sqrt", "Clip", "Scale"} <= set(palette.visible_layer_types())
    palette.set_filter("square root")
    assert {"Sqrt", "Rsqrt"} <= set(palette.visible_layer_types()) and "Exp" not in palette.visible_layer_types()
    assert category_pixmap("Math", 24).toImage().pixelColor(18, 14).rgb() == current_theme().category_color("Math").rgb()
    assert current_theme().category_color("Math") != current_theme().category_color("Activation")


def test_search_matches_doc_text_and_needs_every_word(palette):
    palette.set_filter("residual")
    assert "Add" in palette.visible_layer_types()
    assert "Linear" not in palette.visible_layer_types()

    palette.set_filter("pool 2d")
    shown = palette.visible_layer_types()
    assert "MaxPool2d" in shown and "AvgPool2d" in shown
    assert "MaxPool1d" not in shown


def test_search_for_nonsense_shows_nothing_and_clearing_restores_collapsed_groups(
    palette,
):
    convolution = palette.visible_categories().index("Convolution")
    palette.tree.collapse(palette.proxy.index(convolution, 0))

    palette.set_filter("zzzqqq")
    assert palette.visible_layer_types() == []
    assert palette.visible_categories() == []

    palette.search.clear()
    assert sorted(palette.visible_layer_types()) == sorted(CATALOGUE)
    assert palette.visible_categories() == categories()
    assert not palette.tree.isExpanded(palette.proxy.index(convolution, 0))
    assert palette.tree.isExpanded(palette.proxy.index(0, 0))


def test_typing_in_the_search_box_filters(palette, qtbot):
    qtbot.keyClicks(palette.search, "lstm")
    assert palette.visible_layer_types() == ["LSTM"]


def test_a_dragged_layer_carries_its_type_name(palette):
    index = _proxy_index(palette, "Conv2d")
    data = palette.proxy.mimeData([index])
    assert data.hasFormat(LAYER_MIME)
    assert bytes(data.data(LAYER_MIME)).decode("utf-8") == "Conv2d"
    assert palette.proxy.flags(index) & Qt.ItemFlag.ItemIsDragEnabled
    category = palette.proxy.index(0, 0)
    assert not palette.proxy.flags(category) & Qt.ItemFlag.ItemIsDragEnabled
    assert not palette.proxy.mimeData([category]).hasFormat(LAYER_MIME)


def test_double_click_asks_to_add_the_layer(palette, qtbot):
    index = _proxy_index(palette, "Dropout")
    palette.tree.scrollTo(index)
    point = palette.tree.visualRect(index).center()
    with qtbot.waitSignal(palette.add_requested) as blocker:
        qtbot.mouseClick(
            palette.tree.viewport(), Qt.MouseButton.LeftButton, pos=point
        )  # a double click's first half
        qtbot.mouseDClick(palette.tree.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert blocker.args == ["Dropout"]


def test_double_click_on_a_category_adds_nothing(palette, qtbot):
    with qtbot.assertNotEmitted(palette.add_requested):
        palette.tree.doubleClicked.emit(palette.proxy.index(0, 0))


def test_enter_adds_the_current_layer_or_the_first_match(palette, qtbot):
    palette.tree.setCurrentIndex(_proxy_index(palette, "Linear"))
    with qtbot.waitSignal(palette.add_requested) as blocker:
        qtbot.keyClick(palette.tree, Qt.Key.Key_Return)
    assert blocker.args == ["Linear"]

    palette.set_filter("gelu")
    with qtbot.waitSignal(palette.add_requested) as blocker:
        qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert blocker.args == ["GELU"]


def test_tooltip_shows_doc_and_parameters_with_defaults(palette):
    index = _proxy_index(palette, "Conv2d")
    tip = index.data(Qt.ItemDataRole.ToolTipRole)
    spec = get_spec("Conv2d")
    assert tip == layer_tooltip(spec)
    assert "2-D convolution" in tip
    assert "kernel_size" in tip and "3, 3" in tip
    assert "Number of output channels" in tip


def test_category_icons_are_painted_in_the_category_colour(qapp):
    assert not category_icon("Convolution").isNull()
    assert category_icon("Convolution").cacheKey() == layer_icon("Conv2d").cacheKey()
    image = category_pixmap("Convolution", 24).toImage()
    inside = image.pixelColor(4, 12)  # inside the square, left of the glyph
    assert inside.rgb() == current_theme().category_color("Convolution").rgb()
    assert image.pixelColor(0, 0).alpha() == 0  # the rounded corner is transparent
    assert not category_pixmap("Some new family", 16).isNull()
