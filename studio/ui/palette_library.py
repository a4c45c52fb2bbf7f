"""The palette's Library group: blocks from the user's library folder and from other projects, draggable like layers."""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Callable, Iterable

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QStandardItem
from PySide6.QtWidgets import QMenu

from studio.graph.block_sources import BlockOffer
from studio.graph.layer_search import SearchEntry
from studio.ui.icons import category_icon
from studio.ui.palette import (
    BLOCKS,
    CATEGORY_ROLE,
    OFFER_ROLE,
    SEARCH_ROLE,
    TYPE_ROLE,
    PaletteWidget,
)

LIBRARY = "Library"


def offer_key(offer: BlockOffer) -> str:
    """The text that names one offered block: its file and its name."""
    return json.dumps([str(offer.source), offer.name])


def offer_tooltip(offer: BlockOffer, from_library: bool) -> str:
    """Rich text: the block, where it comes from, what it uses, its parameters and description."""
    where = "your block library" if from_library else "the project"
    parts = [
        f"<p style='white-space:pre'><b>{html.escape(offer.name)}</b> &nbsp;<i>from {where} {html.escape(offer.source.name)}</i></p>",
        f"<p>{html.escape(offer.description or 'No description.')}</p>",
    ]
    facts = []
    if offer.uses:
        facts.append("Uses " + ", ".join(html.escape(u) for u in offer.uses) + ".")
    if offer.params is not None:
        facts.append(f"{offer.params:,} parameters at its own input shapes.")
    facts.append("Drag it onto the canvas (or double-click it) to copy it into this project and add an instance.")
    parts.append("<p>" + " ".join(facts) + "</p>")
    parts.append(f"<p style='white-space:pre'><small>{html.escape(str(offer.source))}</small></p>")
    return "<qt>" + "".join(parts) + "</qt>"


def set_library(palette: PaletteWidget, offers: Iterable[tuple[BlockOffer, bool]], skipped: Iterable[str] = ()) -> None:
    """List offered blocks (each with True when it comes from the library folder) under "Library", after the project's Blocks.

    The group's tooltip names the files that were skipped, and why.
    """
    offers = list(offers)
    names = Counter(offer.name for offer, _ in offers)
    items = []
    for k, (offer, from_library) in enumerate(offers):
        label = offer.name if names[offer.name] == 1 else f"{offer.name} ({offer.source.stem})"
        item = QStandardItem(category_icon(BLOCKS), label)
        item.setData(offer_key(offer), OFFER_ROLE)
        item.setData(BLOCKS, CATEGORY_ROLE)
        item.setData(SearchEntry(offer_key(offer), offer.name, LIBRARY, f"{offer.source.stem}: {offer.description}", order=(-1, k)), SEARCH_ROLE)
        item.setToolTip(offer_tooltip(offer, from_library))
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
        items.append(item)
    changed = [(i.data(OFFER_ROLE), i.toolTip()) for i in items] != _listed(palette)
    if changed:
        palette.model.set_group(LIBRARY, items, 1 if palette.model.findItems(BLOCKS) else 0)
    group = palette.model.findItems(LIBRARY)
    if not group:
        return
    skipped = list(skipped)
    tip = "Blocks from your block library and from the projects you imported blocks from"
    if skipped:
        tip += "<p><b>Skipped:</b><br>" + "<br>".join(html.escape(s) for s in skipped[:20]) + "</p>"
    group[0].setToolTip(f"<qt>{tip}</qt>")
    if changed and not palette.searching:
        palette.tree.setExpanded(palette.proxy.mapFromSource(group[0].index()), True)


def _listed(palette: PaletteWidget) -> list[tuple[str, str]]:
    found = palette.model.findItems(LIBRARY)
    if not found:
        return []
    group = found[0]
    return [(group.child(r).data(OFFER_ROLE), group.child(r).toolTip()) for r in range(group.rowCount())]


def install_menu(palette: PaletteWidget, save: Callable[[str], None], add: Callable[[str], None]) -> None:
    """Palette menu entries: Save Block to Library on a project block, Add to Canvas on a library one."""

    def extra(index: QModelIndex, menu: QMenu) -> None:
        if index.data(OFFER_ROLE):
            key = index.data(OFFER_ROLE)
            menu.addAction("Add to Canvas", lambda: add(key))
        elif index.data(CATEGORY_ROLE) == BLOCKS and index.data(TYPE_ROLE):
            name = index.data(TYPE_ROLE)
            menu.addSeparator()
            menu.addAction("Save Block to Library", lambda: save(name))

    palette.extend_menu(extra)
