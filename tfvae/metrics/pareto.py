"""The Pareto front of a sweep, NLL against MI (E11, Melis et al. (2022), section 7)."""

import numpy as np

__all__ = ["pareto_front"]


def pareto_front(nll, mi):
  """Indices of the non-dominated runs of a sweep, in increasing MI (E11, Melis et al.
  (2022), section 7).

  A run is dominated when another has NLL <= and MI >= with at least one of
  them strict: the front is the best NLL reached at each level of latent use.

  Args:
    nll: [n] negative log-likelihoods (lower is better).
    mi: [n] mutual informations (higher is better).

  Returns:
    int array of indices into the inputs, sorted by MI (then NLL).

  Raises:
    ValueError: on mismatched lengths or non-finite values.
  """
  nll = np.asarray(nll, np.float64)
  mi = np.asarray(mi, np.float64)
  if nll.shape != mi.shape or nll.ndim != 1:
    raise ValueError(f"nll and mi must be vectors of one length, got {nll.shape} and {mi.shape}")
  if not (np.all(np.isfinite(nll)) and np.all(np.isfinite(mi))):
    raise ValueError("pareto_front got a NaN or infinite NLL or MI; drop the diverged runs first")
  # Sweep from the highest MI down: a run is on the front when its NLL beats
  # every run with at least its MI (ties in MI: the lower NLL first).
  order = np.lexsort((nll, -mi))
  front, best = [], np.inf
  for i in order:
    if nll[i] < best:
      front.append(i)
      best = nll[i]
  return np.array(sorted(front, key=lambda i: (mi[i], nll[i])), dtype=np.int64)
