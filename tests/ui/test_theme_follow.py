"""Following the system's theme again after forcing one: the system is judged by its own palette, not one set here."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication, QPalette

from studio.ui.theme import DARK, LIGHT, current_theme, system_is_dark, use_theme


def _window_lightness() -> int:
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness()


def test_following_the_system_after_the_dark_theme_gives_the_systems_palette_back(qtbot) -> None:
    use_theme(None)
    system, lightness = system_is_dark(), _window_lightness()
    try:
        for forced in (DARK, LIGHT, DARK):
            use_theme(forced)
            assert current_theme() is forced and (_window_lightness() < 128) == forced.dark
            use_theme(None)
            assert current_theme().dark == system and _window_lightness() == lightness
    finally:
        use_theme(None)
