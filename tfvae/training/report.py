"""Plain-text tables of evaluation results for the launchers."""

ROWS = (
    ("nll", "NLL (IW)", "{:.3f}"),
    ("ppl", "PPL", "{:.2f}"),
    ("neg_elbo", "-ELBO", "{:.3f}"),
    ("recon", "Recon", "{:.3f}"),
    ("kl", "KL", "{:.3f}"),
    ("mi_batch", "MI (per batch)", "{:.3f}"),
    ("mi_aggregate", "MI (whole set)", "{:.3f}"),
    ("au", "AU", "{:d}"),
    ("num_examples", "examples", "{:d}"),
)


def metrics_table(results, title):
  """A two-column markdown table of the metrics present in `results`."""
  lines = [f"{title}", "", "| metric | value |", "|---|---|"]
  for key, label, fmt in ROWS:
    if key in results:
      value = results[key]
      value = int(value) if fmt == "{:d}" else float(value)
      lines.append(f"| {label} | {fmt.format(value)} |")
  return "\n".join(lines)
