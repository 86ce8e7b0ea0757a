"""The linear probe (METHODS.md E8): how much of a label the posterior means hold linearly.

Shen et al. (2021), tables 2-3: a logistic-regression classifier on the
posterior means, trained with 100, 500, 1k, 2k and 10k labelled examples,
its accuracy on held-out labelled data. The VAE never sees a label; the
probe alone does.

* Features: the posterior means E_q[z|x] (`units.posterior_means`), standardised
  with the labelled subset's mean and deviation. For an IAF posterior, z0's
  mean and its image through the flow, concatenated (the features of the IAF
  rows of Shen et al.'s (2021) table 2).
* Classifier: multinomial logistic regression with an L2 penalty
  (`l2 / 2 * |W|^2` added to the mean cross-entropy), fitted to convergence
  by scipy's L-BFGS, so the result depends on the data and the seed only.
* Labelled data: with labels for the training split (Yelp, the synthetic
  sets), the labelled subsets are drawn from it and the held-out set is the
  test split; with labels for the test split only (binarized MNIST), a seeded
  permutation of the test split gives the held-out fifth and the pool the
  subsets are drawn from. Counts above the pool's size are left out.
"""

import numpy as np
import scipy.optimize
import scipy.special
import tensorflow as tf

from tfvae.data.errors import DataError
from tfvae.latents import gaussian
from tfvae.metrics.units import posterior_means

__all__ = ["LABEL_COUNTS", "fit_logistic_regression", "linear_probe", "probe_features",
           "probe_splits"]

LABEL_COUNTS = (100, 500, 1000, 2000, 10000)
HELD_OUT_SHARE = 0.2
_BATCH = 500


def fit_logistic_regression(features, labels, num_classes, l2=1e-3):
  """(W [F, C], b [C]) minimising mean cross-entropy + l2 / 2 |W|^2 (L-BFGS, float64)."""
  features = np.asarray(features, np.float64)
  one_hot = np.eye(num_classes)[np.asarray(labels)]
  num_features = features.shape[1]

  def loss_and_gradient(flat):
    weights = flat[:-num_classes].reshape(num_features, num_classes)
    logits = features @ weights + flat[-num_classes:]
    log_probs = logits - scipy.special.logsumexp(logits, axis=1, keepdims=True)
    loss = -np.mean(np.sum(one_hot * log_probs, axis=1)) + 0.5 * l2 * np.sum(weights**2)
    error = (np.exp(log_probs) - one_hot) / len(features)
    gradient = np.concatenate([(features.T @ error + l2 * weights).ravel(), error.sum(axis=0)])
    return loss, gradient

  start = np.zeros(num_features * num_classes + num_classes)
  result = scipy.optimize.minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B",
                                   options={"maxiter": 2000, "gtol": 1e-7})
  return result.x[:-num_classes].reshape(num_features, num_classes), result.x[-num_classes:]


def probe_features(model, batches):
  """The probe's features of every example of `batches` (module docstring), [N, F]."""
  rows = []
  for x in batches:
    posterior = model.posterior(x, training=False)
    if gaussian.is_flow(posterior):
      base_mean = posterior.distribution.mean()
      rows.append(tf.concat([base_mean, posterior.bijector.forward(base_mean)], -1).numpy())
    else:
      rows.append(posterior_means(posterior, tf.constant([0, 0], tf.int32))[0].numpy())
  return np.concatenate(rows)


def probe_splits(dataset, seed):
  """((pool features' split, pool indices), (held-out split, held-out indices)).

  Raises:
    DataError: the data set has no labels for its test split.
  """
  test_labels = dataset.labels("test")
  try:
    train_labels = dataset.labels("train")
  except DataError:
    order = np.random.default_rng(seed).permutation(len(test_labels))
    held_out = int(round(HELD_OUT_SHARE * len(order)))
    return ("test", np.sort(order[held_out:])), ("test", np.sort(order[:held_out]))
  return ("train", np.arange(len(train_labels))), ("test", np.arange(len(test_labels)))


def linear_probe(model, dataset, *, label_counts=LABEL_COUNTS, seed=0, l2=1e-3):
  """{label count: held-out accuracy} of the probe on `model`'s posterior means.

  Args:
    model: a model keeping the tfvae contract.
    dataset: a `tfvae.data.DataSet` with labels for its test split.
    label_counts: sizes of the labelled subsets (each drawn by `seed`).
    seed: the subsets' (and, without training labels, the held-out set's) seed.
    l2: the classifier's L2 penalty.

  Raises:
    DataError: no labels for the test split, or no count fits the labelled pool.
  """
  (pool_split, pool_rows), (test_split, test_rows) = probe_splits(dataset, seed)
  features = {split: probe_features(model, dataset.batches(split, _BATCH))
              for split in {pool_split, test_split}}
  labels = {split: np.asarray(dataset.labels(split)) for split in features}
  num_classes = int(max(labels[split].max() for split in labels)) + 1
  usable = [count for count in label_counts if count <= len(pool_rows)]
  if not usable:
    raise DataError(f"No label count of {list(label_counts)} fits the {len(pool_rows)} "
                     f"labelled examples of {dataset.name!r}.")
  rng = np.random.default_rng(seed)
  test_x, test_y = features[test_split][test_rows], labels[test_split][test_rows]
  accuracies = {}
  for count in usable:
    chosen = rng.choice(pool_rows, size=count, replace=False)
    train_x, train_y = features[pool_split][chosen], labels[pool_split][chosen]
    centre, spread = train_x.mean(axis=0), train_x.std(axis=0) + 1e-8
    weights, bias = fit_logistic_regression((train_x - centre) / spread, train_y, num_classes, l2)
    predicted = np.argmax(((test_x - centre) / spread) @ weights + bias, axis=1)
    accuracies[count] = float(np.mean(predicted == test_y))
  return accuracies
