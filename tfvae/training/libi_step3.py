"""What LiBI's step 3 does: two repetitions of --preset=libi with and without it.

Yacoby et al. (2020), appendix D, step 3: before step 1 is repeated, the code
network h is set to the mean of the inference network q ("a helpful
perturbation out of local minima"). `compare` trains, for each seed, the
first repetition of `--preset=libi` (steps 1 and 2) once, then the second
repetition twice from its end: as the preset does (step 3, then steps 1 and
2) and with h left where step 1 left it (`libi_reinit_codes=False`). Each
run is scored by its test log-likelihood (eq. 48, the table's Test-LL).
Finished runs are read back from their directories.
"""

import dataclasses
import os

import numpy as np

from tfvae.training import loop
from tfvae.training import presets

WITHOUT_STEP_3 = "_without_step3"


def seed_stages(kind, seed, runs_dir, **fields):
  """(first repetition, second with step 3, second without) as lists of stage Configs."""
  config = presets.make_config("libi", dataset=f"libi_{kind}", seed=seed, libi_repetitions=2,
                               model_dir=os.path.join(runs_dir, kind, f"seed{seed}"), **fields)
  stages = presets.stages(config)
  first, with_step_3 = stages[:2], stages[2:]
  likelihood, inference = (dataclasses.replace(stage, model_dir=stage.model_dir + WITHOUT_STEP_3)
                           for stage in with_step_3)
  without_step_3 = [dataclasses.replace(likelihood, libi_reinit_codes=False),
                    dataclasses.replace(inference, init_weights_from=likelihood.model_dir)]
  return first, with_step_3, without_step_3


def compare(kind, seeds, runs_dir, **fields):
  """Per seed {"seed", "first", "with_step_3", "without_step_3"}: test log-likelihoods (nats).

  `fields` are config fields of every stage (epochs, steps_per_epoch, learning_rate, ...).
  """
  rows = []
  for seed in seeds:
    test_ll = {}
    for name, stages in zip(("first", "with_step_3", "without_step_3"),
                            seed_stages(kind, seed, runs_dir, **fields)):
      test_ll[name] = -[loop.read_or_train(stage) for stage in stages][-1]["test"]["nll"]
    rows.append({"seed": seed, **test_ll})
  return rows


def format_rows(kind, rows, fields):
  """The markdown table of `compare`'s rows, with their means."""
  settings = ", ".join(f"{name}={value}" for name, value in sorted(fields.items()))
  lines = [f"LiBI step 3 on {kind} ({settings}): test log-likelihood (eq. 48) after the first "
           "repetition and after the second, with step 3 and without", "",
           "| seed | first repetition | second, with step 3 | second, without step 3 |",
           "|---|---|---|---|"]
  for row in rows:
    lines.append(f"| {row['seed']} | {row['first']:.3f} | {row['with_step_3']:.3f} | "
                 f"{row['without_step_3']:.3f} |")
  means = {name: np.mean([row[name] for row in rows])
           for name in ("first", "with_step_3", "without_step_3")}
  lines.append(f"| mean | {means['first']:.3f} | {means['with_step_3']:.3f} | "
               f"{means['without_step_3']:.3f} |")
  return "\n".join(lines)
