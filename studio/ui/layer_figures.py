"""What a run tells about each layer, gathered for the canvas cards: figures per top-level card and the problems found.

A layer id is a flattened node id (`n5`, or `n17.0.n2` inside instance n17); its card is the
top-level node the id starts with. An instance card sums its inner layers up: the gradient norm
is the root of the sum of their squares, the activations are those of its last inner layer that
reports any. No Qt here: `studio.ui.layer_live` feeds it and paints from it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

HISTORY = 48  # probes a card's sparkline remembers
FLAG_KINDS = ("dead", "vanishing", "exploding")


@dataclass(frozen=True)
class CardFigures:
    """One card's latest figures, the recent history its sparkline draws, and its flags; `stale` once the run is over."""

    mean: float | None
    std: float | None
    zeros: float | None
    grad: float | None
    history: tuple[float, ...]  # gradient norms, or the activations' spread for a layer without weights
    history_kind: str  # "grad" or "spread"
    flags: tuple[str, ...] = ()
    layers: int = 1  # inner layers summed up (an instance), 1 for a layer
    stale: bool = False


@dataclass
class _Card:
    figures: list[float | None] = field(default_factory=lambda: [None] * 4)
    history: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    history_kind: str = "grad"
    layers: int = 1


@dataclass(frozen=True)
class LayerFlag:
    """A problem a run found in one layer: which layer, what, from which epoch, with the figure that shows it."""

    layer: str  # the flattened layer id
    kind: str  # dead, vanishing or exploding
    epoch: int
    value: float | None  # share of zeros (dead) or gradient norm (vanishing, exploding) in that epoch


def card_of(layer: str) -> str:
    """The top-level node whose card shows a layer."""
    return layer.split(".", 1)[0]


def inner_path(layer: str) -> tuple[str, ...]:
    """The inner node ids from the instance down (`n17.0.n2.1.n4` -> ('n2', 'n4')): repeats are not levels."""
    return tuple(layer.split(".")[2::2])


def aggregate(order: list[str], figures: dict[str, list[float | None]]) -> list[float | None]:
    """One card's [mean, std, zeros, grad] from its layers' (in model order): gradient norms combined, the last layer's activations."""
    grads = [f[3] for layer in order if (f := figures.get(layer)) is not None and f[3] is not None]
    grad = math.sqrt(sum(g * g for g in grads)) if grads else None
    acts: list[float | None] = [None, None, None]
    for layer in reversed(order):
        f = figures.get(layer)
        if f is not None and any(v is not None for v in f[:3]):
            acts = list(f[:3])
            break
    return [*acts, grad]


class RunFigures:
    """The figures of the run in progress (or the last one) per card, with the cards changed since they were last taken."""

    def __init__(self) -> None:
        self.layers: dict[str, str] = {}  # layer id -> module path, in the model's order
        self.cards: dict[str, _Card] = {}
        self.members: dict[str, list[str]] = {}  # card -> its layers in order
        self.flags: list[LayerFlag] = []
        self.stale = False
        self.dirty: set[str] = set()

    def start(self, layers: dict[str, str]) -> None:
        """A new run: forget everything, know its layers."""
        self.layers = dict(layers)
        self.members = {}
        for layer in self.layers:
            self.members.setdefault(card_of(layer), []).append(layer)
        self.cards = {card: _Card(layers=len(members)) for card, members in self.members.items()}
        self.flags = []
        self.stale = False
        self.dirty = set()

    def take(self, figures: dict[str, list[float | None]]) -> None:
        """One probe's figures: each card named in it takes them and is marked changed."""
        for card in {card_of(layer) for layer in figures}:
            state = self.cards.get(card)
            members = self.members.get(card)
            if state is None or members is None:
                continue
            values = aggregate(members, figures)
            state.figures = values
            if values[3] is not None:
                if state.history_kind != "grad":
                    state.history.clear()
                state.history_kind = "grad"
                state.history.append(values[3])
            elif values[1] is not None and (state.history_kind == "spread" or not state.history):
                state.history_kind = "spread"  # a layer without weights: its activations' spread
                state.history.append(values[1])
            self.dirty.add(card)

    def take_epoch(self, event: dict[str, Any]) -> list[LayerFlag]:
        """A `layer_epoch` event: the flags that began in it (kept, and their cards marked changed)."""
        summary = event.get("layers") or {}
        started = []
        for flag in event.get("flags") or []:
            layer, kind = str(flag.get("layer", "")), str(flag.get("kind", ""))
            if kind not in FLAG_KINDS or layer not in self.layers:
                continue
            row = summary.get(layer) or [None] * 4
            value = row[2] if kind == "dead" else row[3]
            started.append(LayerFlag(layer, kind, int(flag.get("epoch") or event.get("epoch") or 0), value))
        for card, state in self.cards.items():  # a card no probe reached yet shows the epoch's means
            if all(v is None for v in state.figures) and any(layer in summary for layer in self.members[card]):
                state.figures = aggregate(self.members[card], summary)
                self.dirty.add(card)
        self.flags += started
        self.dirty |= {card_of(f.layer) for f in started}
        return started

    def finish(self) -> None:
        """The run is over: every card's figures stay, dimmed, as the last run's."""
        self.stale = True
        self.dirty |= set(self.cards)

    def clear(self) -> None:
        """Forget the run (the network changed): every card that showed figures is marked changed."""
        shown = set(self.cards)
        self.start({})
        self.dirty = shown

    def figures(self, card: str) -> CardFigures | None:
        """What a card shows now, or None (no figures: nothing to draw)."""
        state = self.cards.get(card)
        if state is None or (all(v is None for v in state.figures) and not state.history):
            return None
        mean, std, zeros, grad = state.figures
        kinds = tuple(dict.fromkeys(f.kind for f in self.flags if card_of(f.layer) == card))
        return CardFigures(mean, std, zeros, grad, tuple(state.history), state.history_kind, kinds, state.layers, self.stale)

    def take_dirty(self) -> set[str]:
        """The cards changed since the last call."""
        dirty, self.dirty = self.dirty, set()
        return dirty
