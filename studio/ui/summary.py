"""The status bar's one-line account of the network: size, cost, memory and problem counts."""

from __future__ import annotations

from studio.graph.shapes import Summary

BYTES_PER_VALUE = 4  # activations are estimated as float32
COUNT_UNITS = ("", "k", "M", "G", "T")
BYTE_UNITS = ("B", "KB", "MB", "GB", "TB")


def format_count(n: int) -> str:
    """A count to three significant digits with an SI suffix: 950, 61.7k, 1.23M, 4.2G."""
    sign, value, unit = "-" if n < 0 else "", float(abs(n)), 0
    if value < 1000:
        return f"{n}"
    while unit < len(COUNT_UNITS) - 1 and float(f"{value:.3g}") >= 1000:
        value /= 1000
        unit += 1
    if value >= 1000:  # beyond the largest unit: group the digits instead
        return f"{sign}{value:,.0f}{COUNT_UNITS[unit]}"
    return f"{sign}{float(f'{value:.3g}'):g}{COUNT_UNITS[unit]}"


def format_bytes(n: int) -> str:
    """A size in binary units (1 KB = 1024 B), three significant digits: 512 B, 1.5 KB, 12.3 MB."""
    value, unit = float(max(n, 0)), 0
    while unit < len(BYTE_UNITS) - 1 and value >= 1023.5:  # never '1024 KB'
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{int(value)} B"
    text = f"{value:,.0f}" if value >= 100 else f"{float(f'{value:.3g}'):g}"
    return f"{text} {BYTE_UNITS[unit]}"


def format_problems(errors: int, warnings: int) -> str:
    """'2 errors, 1 warning', '1 error', or 'no problems'."""
    parts = [_plural(errors, "error"), _plural(warnings, "warning")]
    return ", ".join(p for p in parts if p) or "no problems"


def summary_text(summary: Summary, batch_size: int = 1) -> str:
    """One line for the status bar: parameters, MACs, activation memory, problems."""
    batch = max(batch_size, 1)
    params = f"{format_count(summary.total_params)} params"
    if summary.trainable_params != summary.total_params:
        params += f" ({format_count(summary.trainable_params)} trainable)"
    macs = f"{format_count(summary.total_macs * batch)} MACs"
    memory = format_bytes(summary.activation_elements * BYTES_PER_VALUE * batch)
    memory += " activations " + (
        "per sample" if batch == 1 else f"per batch of {batch}"
    )
    problems = format_problems(summary.errors, summary.warnings)
    return f"{params} · {macs} · {memory} · {problems}"


def summary_tooltip(summary: Summary, batch_size: int = 1) -> str:
    """The same figures exactly, one per line, for the status bar's tooltip."""
    batch = max(batch_size, 1)
    per = "per sample" if batch == 1 else f"per batch of {batch}"
    buffers = summary.total_params - summary.trainable_params
    params = f"Parameters: {summary.total_params:,}"
    if buffers:
        params += f" ({summary.trainable_params:,} trainable, {buffers:,} in buffers)"
    values = summary.activation_elements * batch
    lines = [
        params,
        f"Multiply-accumulates: {summary.total_macs * batch:,} {per}",
        f"Activations: {values:,} values, {format_bytes(values * BYTES_PER_VALUE)} as float32 {per}",
        f"Problems: {format_problems(summary.errors, summary.warnings)}",
    ]
    if summary.errors:
        lines.append("Layers with errors are not counted.")
    return "\n".join(lines)


def _plural(n: int, word: str) -> str:
    return "" if n == 0 else f"{n} {word}" if n == 1 else f"{n} {word}s"
