"""The example gallery: every shipped example, with a thumbnail, opens as an unsaved copy."""

from __future__ import annotations

from studio.graph.project import load_project
from studio.ui.gallery import ExampleGallery, example_paths, thumbnail


def test_the_gallery_lists_every_example_digits_first(qtbot):
    gallery = ExampleGallery()
    qtbot.addWidget(gallery)
    paths = example_paths()
    assert gallery.examples.count() == len(paths) >= 8
    first = gallery.examples.item(0)
    assert first.text() == "Digits CNN" and not first.icon().isNull()
    assert "12 layers" in gallery.about.text()
    gallery.examples.setCurrentRow(3)
    gallery.accept()
    assert gallery.chosen_path == paths[3]


def test_a_thumbnail_draws_the_layers_in_their_colours():
    project = load_project(example_paths()[0])
    image = thumbnail(project).toImage()
    background = image.pixelColor(0, 0)
    drawn = {image.pixelColor(x, y).name() for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)}
    assert len(drawn - {background.name()}) > 5
    assert image.width() > 100
