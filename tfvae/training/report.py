"""Plain-text tables of evaluation results for the launchers."""

import math

ROWS = (
    ("nll", "NLL (IW)", "{:.3f}"),
    ("ppl", "PPL", "{:.2f}"),
    ("neg_elbo", "-ELBO", "{:.3f}"),
    ("recon", "Recon", "{:.3f}"),
    ("kl", "KL", "{:.3f}"),
    ("mi_batch", "MI (per batch)", "{:.3f}"),
    ("mi_aggregate", "MI (whole set)", "{:.3f}"),
    ("au", "AU", "{:d}"),
    ("mpd", "MPD", "{:.3f}"),
    ("conditional_entropy", "CE H(z|x)", "{:.3f}"),
    ("num_examples", "examples", "{:d}"),
)


def format_value(value, fmt):
  """`value` in `fmt`, or "n/a" for a metric that could not be computed (None or NaN)."""
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return "n/a"
  return fmt.format(int(value) if fmt == "{:d}" else float(value))


def metrics_table(results, title):
  """A two-column markdown table of the metrics present in `results`."""
  lines = [f"{title}", "", "| metric | value |", "|---|---|"]
  for key, label, fmt in ROWS:
    if key in results:
      lines.append(f"| {label} | {format_value(results[key], fmt)} |")
  return "\n".join(lines)
