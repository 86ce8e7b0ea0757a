"""--model=libi: likelihood before inference (Yacoby et al. 2020, eqs. 44-46; METHODS.md M21).

One run trains one phase of LiBI (`tfvae.models.LiBIVAE`): --libi_phase=likelihood
fits the decoder and a code network h(x) under the penalties of eq. 44
(--eps_hz, --eps_sigma, --eps_mu); --libi_phase=inference fits the inference
network to the fixed decoder by the ELBO (eqs. 45-46). --libi_reinit_codes
starts a likelihood run with step 3: h set to the mean of q of the run it is
initialised from (--init_weights_from). The networks are those of appendix E
for the LiBI data sets (`--network=libi`: --dataset=libi_*), the only data
LiBI runs on here. The paper's grid (appendix E): eps_Sigma, eps_mu in
{0.2, 0.5}, eps_HZ in {0.001, 1, 10, 20}, R in {1, 6}.

--preset=libi is the whole method: R = --libi_repetitions repetitions of
(likelihood, inference) as training stages in MODEL_DIR/rep<r>/likelihood and
MODEL_DIR/rep<r>/inference, each starting from the weights of the stage before
it, every repetition after the first with step 3; the row's results are those
of the repetition with the best validation likelihood (eq. 48 on the
validation split). A killed run resumes in the stage it was in, and the
choice is remade from the stages' results, so it survives a restart. The
preset trains on Linear JTEx (another --dataset=libi_* wins) in full batches
of the 500 training points, the batch over which the paper takes the codes'
statistics, for 3,000 steps per phase (5 epochs of 600), the budget of
`--table=libi --scale=cpu`.

  python -m launch.train --dataset=libi_linear_jtex --preset=libi --model_dir=runs/libi
"""

import dataclasses
import os

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import Preset
from tfvae.methods.spec import require

PHASES = ("likelihood", "inference")


def build(config, dataset):
  from tfvae import models
  from tfvae import nets
  from tfvae.data import vectors
  arguments = models.model_arguments(config, dataset)
  code_encoder = nets.LiBIEncoder(vectors.libi_kind(dataset.name), arguments["latent_dim"],
                                  name="code_encoder")
  return models.LiBIVAE(code_encoder=code_encoder, phase=config.libi_phase, eps_hz=config.eps_hz,
                        eps_sigma=config.eps_sigma, eps_mu=config.eps_mu, beta=config.beta,
                        **arguments)


def validate(config):
  require(min(config.eps_hz, config.eps_sigma, config.eps_mu) > 0,
          f"--eps_hz, --eps_sigma and --eps_mu must be positive, got {config.eps_hz}, "
          f"{config.eps_sigma}, {config.eps_mu}.")
  require(config.network in (None, "libi"),
          f"--model=libi runs on the LiBI data sets with their networks (--dataset=libi_..., "
          f"--network=libi); drop --network={config.network}.")
  require(config.dataset.startswith("libi_"),
          f"--model=libi runs on the LiBI data sets (--dataset=libi_linear_jtex, "
          f"libi_cubic_jtex, libi_gaussian, libi_mobius), not --dataset={config.dataset}.")
  require(config.libi_repetitions >= 1,
          f"--libi_repetitions must be a positive integer, got {config.libi_repetitions}.")
  require(not config.libi_reinit_codes
          or (config.libi_phase == "likelihood" and config.init_weights_from),
          "--libi_reinit_codes (step 3) sets h to the mean of q of the run given by "
          "--init_weights_from at the start of a likelihood run: it needs "
          "--libi_phase=likelihood and --init_weights_from=RUN_DIR.")


def initialise(model, config):
  """Step 3 (eq. 44's h re-initialised at q's mean) when --libi_reinit_codes asks for it."""
  if config.libi_reinit_codes:
    model.codes_from_posterior()


def stage_dir(model_dir, repetition, phase):
  """Where a stage of --preset=libi runs: MODEL_DIR/rep<r>/<phase>."""
  return os.path.join(model_dir, f"rep{repetition}", phase)


def repetition_stages(config):
  """R x (likelihood, inference) of --preset=libi (module docstring)."""
  require(config.model_dir, "--preset=libi needs --model_dir: its stages are written to "
          "MODEL_DIR/rep<r>/likelihood and MODEL_DIR/rep<r>/inference.")
  stages = []
  for repetition in range(config.libi_repetitions):
    previous = stage_dir(config.model_dir, repetition - 1, "inference") if repetition else None
    likelihood = dataclasses.replace(
        config, libi_phase="likelihood", libi_reinit_codes=previous is not None,
        init_weights_from=previous, model_dir=stage_dir(config.model_dir, repetition,
                                                        "likelihood"),
        evaluate_test=False, evaluate_valid=False)
    inference = dataclasses.replace(
        config, libi_phase="inference", libi_reinit_codes=False,
        init_weights_from=likelihood.model_dir, evaluate_valid=True,
        model_dir=stage_dir(config.model_dir, repetition, "inference"))
    stages += [likelihood, inference]
  return stages


def best_repetition(config, stage_results):
  """The inference stage's results of the repetition with the lowest validation NLL.

  Adds "repetition" (its index) and "valid_nll_by_repetition".
  """
  del config
  inference = stage_results[1::2]
  valid_nll = [results["valid"]["nll"] for results in inference]
  best = min(range(len(valid_nll)), key=valid_nll.__getitem__)
  return {**inference[best], "repetition": best, "valid_nll_by_repetition": valid_nll}


METHOD = Method(
    name="libi",
    summary="LiBI: fit the likelihood with codes constrained to look like p(z), then the "
            "inference network to the fixed decoder (Yacoby et al. 2020)",
    build=build,
    options=(
        Option("libi_phase", "likelihood", "--model=libi: the phase this run trains: the "
               "likelihood with constrained codes (eq. 44) or the inference network (eq. 46).",
               choices=PHASES),
        Option("eps_hz", 1.0, "--model=libi: eps_HZ, the weight of exp(HZ(codes)) (eq. 44)."),
        Option("eps_sigma", 0.5, "--model=libi: eps_Sigma, exp(||Cov(codes) - I||^2 / "
               "eps_Sigma) (eq. 44)."),
        Option("eps_mu", 0.5, "--model=libi: eps_mu, exp(||mean(codes)||^2 / eps_mu) (eq. 44)."),
        Option("libi_reinit_codes", False, "--model=libi, likelihood phase: start with step 3, "
               "h set to the mean of q of the --init_weights_from run."),
        Option("libi_repetitions", 2, "--preset=libi: repetitions R of (likelihood, "
               "inference); the one with the best validation likelihood is kept."),
    ),
    validate=validate,
    initialise=initialise,
    beta_schedule=False,
    presets={"libi": Preset("LiBI, R repetitions of its two phases, the best kept by "
                            "validation likelihood (Yacoby et al. (2020), table 1, row 'LiBI')",
                            {"model": "libi", "dataset": "libi_linear_jtex", "batch_size": 500,
                             "epochs": 5, "steps_per_epoch": 600},
                            stages=repetition_stages,
                            combine=best_repetition)},
)
