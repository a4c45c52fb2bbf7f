"""Safe identifiers for generated code: every user-given name passes through one `Namespace`."""

# NOTE: names come from users and from imported files. Generated code never pastes them raw:
# identifiers go through `Namespace.identifier`/`class_name`, comments through `comment_text`,
# and any other string is emitted with `literal` (a repr, `studio.graph.catalogue.literals`). Nothing in a
# name can inject code.

from __future__ import annotations

import builtins
import keyword
import re
import symtable
import unicodedata
from collections.abc import Iterable


class CodegenError(Exception):
    """A project that cannot be turned into code; the message names the nodes and says why."""


MAX_IDENTIFIER = 40

# Names the generated file itself uses, at module level or inside forward().
FILE_NAMES = frozenset(
    {
        "self", "torch", "nn", "F", "math", "forward", "build_model", "weights", "model", "state", "Standardize",
        "SinusoidalEncoding", "LearnedEncoding", "SeparableConv2d", "recurrent_outputs",
        "LocalResponseNorm",
    }
)  # fmt: skip

# Attributes of nn.Module (torch 2.x): a layer attribute with one of these names would break it.
MODULE_ATTRIBUTES = frozenset(
    {
        "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children",
        "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward",
        "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half", "ipu",
        "load_state_dict", "modules", "mtia", "named_buffers", "named_children", "named_modules",
        "named_parameters", "parameters", "register_backward_hook", "register_buffer",
        "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
        "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook", "register_module", "register_parameter",
        "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_",
        "set_extra_state", "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train",
        "training", "type", "xpu", "zero_grad",
    }
)  # fmt: skip

RESERVED = frozenset(
    set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins)) | FILE_NAMES | MODULE_ATTRIBUTES
)


def template_names(source: str, hosts: Iterable[str] = ()) -> frozenset[str]:
    """Every global the fixed text of a generated file binds or reads, and every name of its functions in `hosts`.

    Generated identifiers must avoid these: a global of the same name would replace the file's own,
    and a local in a host function (whose scope generated locals join) would shadow what it reads.
    """
    module = symtable.symtable(source, "<template>", "exec")
    found = set(module.get_identifiers())
    hosts = frozenset(hosts)
    pending = list(module.get_children())
    while pending:
        table = pending.pop()
        every = table.get_type() == "function" and table.get_name() in hosts
        found |= {s.get_name() for s in table.get_symbols() if every or s.is_global() or s.is_declared_global()}
        pending += table.get_children()
    return frozenset(found)


def _ascii_words(text: str) -> list[str]:
    """Split `text` into runs of ASCII letters and digits, after folding accents (NFKD)."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return [w for w in re.split(r"[^A-Za-z0-9]+", folded) if w]


class Namespace:
    """Turns any strings into unique, valid, non-reserved Python identifiers, deterministically."""

    def __init__(self, reserved: frozenset[str] = RESERVED) -> None:
        self._reserved = reserved
        self._used: set[str] = set()

    def identifier(self, name: str, fallback: str = "layer") -> str:
        """A new snake-ish identifier for `name`: 'conv 1' -> 'conv_1', '1st' -> 'layer_1st'."""
        base = "_".join(_ascii_words(name))[:MAX_IDENTIFIER].rstrip("_") or fallback
        if base[0].isdigit():
            base = f"{fallback}_{base}"
        return self._claim(base)

    def class_name(self, name: str, fallback: str = "Model") -> str:
        """A new CamelCase class name for `name`: 'digits_cnn' -> 'DigitsCnn'."""
        base = "".join(w[0].upper() + w[1:] for w in _ascii_words(name))[:MAX_IDENTIFIER] or fallback
        if base[0].isdigit():
            base = f"{fallback}{base}"
        return self._claim(base)

    def copy(self) -> Namespace:
        """An independent namespace holding the same names."""
        other = Namespace(self._reserved)
        other._used = set(self._used)
        return other

    def taken(self) -> frozenset[str]:
        """The names claimed so far."""
        return frozenset(self._used)

    def _claim(self, base: str) -> str:
        if base in self._reserved:
            base = f"{base}_"
        name, k = base, 2
        while name in self._used or name in self._reserved:
            name = f"{base}_{k}"
            k += 1
        assert name.isidentifier() and not keyword.iskeyword(name)
        self._used.add(name)
        return name


def unique_name(base: str, taken: set[str]) -> str:
    """`base`, or the first of `base_2`, `base_3`, ... not in `taken`; it joins `taken`."""
    name, k = base, 2
    while name in taken:
        name = f"{base}_{k}"
        k += 1
    taken.add(name)
    return name


def comment_text(text: str, limit: int = 60) -> str:
    """`text` made safe for a one-line comment: no line breaks or invisible controls, bounded."""
    cleaned = "".join(c if c.isprintable() else " " for c in text).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."
