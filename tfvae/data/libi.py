"""The four synthetic sets of LiBI and the closed forms of its linear models (METHODS.md D3).

Yacoby et al. (2020), appendix E, evaluate on four generative processes with a
2-d latent z ~ N(0, I_2), each given here exactly as printed there:

* `linear_jtex` ("Linear JTEx", eq. 3 = eqs. 17-19): x|z = L z + eps with
  L = Cholesky(A A^T + B) (lower triangular), eps ~ N(0, sigma^2 I - B),
  sigma^2 = 0.01, B = diag(0.006, 0.006), A = [[0.75, 0.25], [1.5, -1.0]];
* `cubic_jtex`: x|z = (L z)^3 + eps, the cube taken element-wise, same L and noise;
* `gaussian`: x|z = z^T A + eps, i.e. x = A^T z + eps in R^4, eps ~ N(0, 1e-6 I_4), A of
  `GAUSSIAN_A` (2 x 4);
* `mobius`: x|z = f(z) + eps, eps ~ N(0, 1e-5 I_2), where f approximates the Mobius
  transform m(z) = (a z + b) / (c z + d) in complex arithmetic, z = z1 + i z2,
  a = 1, b = 1 + 4i, c = 1, d = 7 + 4i. The paper trains "a neural network f to
  map z ~ p(z) to m(z)" and uses "this neural network approximation and the
  ground-truth function"; `generator="network"` (the default) uses the network,
  `generator="exact"` uses m itself.

Each type has replicates 0..4 in the paper (any replicate >= 0 is accepted), each
of 500 train / 500 valid / 500 test points. Seed rule: split s (train 0, valid 1,
test 2) of replicate r of type t draws its z first, then its noise, from
`numpy.random.RandomState([2020, TYPES.index(t), r, s])` (the legacy generator,
whose streams numpy keeps fixed across versions), so every machine builds the same
z and noise. The Mobius network is drawn and trained from `RandomState([2020, 3])`.

Mobius network (the paper gives no architecture; we choose): a Keras MLP
2 -> 50 tanh -> 50 tanh -> 2, Glorot-uniform initial weights drawn with numpy,
fitted by full-batch Adam (learning rate 0.01, cosine decay to 1e-4 over 3000 steps)
to the standardised m(z) of 4096 points z ~ p(z), on the CPU, in a fresh thread
(so no caller's distribution strategy or graph applies) and without touching
TensorFlow's global seeds. The standardisation is folded into the last layer. It
takes a few seconds, once: the weights are cached in
`<cache_dir>/libi_mobius_<NETWORK_TAG>.npz`, where cache_dir is the argument, else
`$TFVAE_CACHE_DIR`, else `~/.cache/tfvae`; the file is written to a temporary file and
moved in place with `os.replace`, so concurrent processes never read a partial
file (at worst two of them train the same network). Later calls evaluate f in numpy
from the cached weights and need no TensorFlow. Its root-mean-square error against
m on 20,000 held-out z ~ p(z) from `RandomState([2020, 3, 1])` is 6.4e-4 (stored as
`heldout_rmse`; m's outputs have standard deviation 0.095 per coordinate, the noise
3.2e-3). The RMSE is dominated by a few far-tail points (other draws of 20,000 z
give 6e-4 to 1.2e-3): it is 1.3e-4 where |z| < 2 (86% of p(z)), 99% of the errors
are under 1.3e-3, and the worst, at |z| about 4 towards the pole at z = -7 - 4i,
reach 0.1. Training is bit-for-bit repeatable with the same TensorFlow thread
set-up; with one intra-op thread instead of two, f differs by 4e-6 RMS (3e-4 at
worst). The cached file is what fixes the data set.

Closed forms (appendix C) for the two linear sets, whose model is x = W z + eps,
eps ~ N(0, Psi) with Psi diagonal (W = L, Psi = sigma^2 I - B for `linear_jtex`;
W = A^T, Psi = 1e-6 I for `gaussian`): `linear_marginal`, `log_marginal`,
`exact_posterior`, `mutual_information`; `best_mean_field` (C.3) for any Gaussian
posterior; `scalar_posterior` and `scalar_mutual_information` for the 1-d model of
C.1 (x = theta z + eps, eps ~ N(0, sigma^2 - theta^2)). They are derived from the
Gaussian identities, not copied. Where we depart from the printed text:

* eq. 15: I(X; Z) = log(sigma^2 / (sigma^2 - theta^2)) / 2, without the printed "- 4"
  (which would make I negative at theta = 0, where it is 0);
* C.1 and eq. 5: the condition "0 <= theta <= sigma^2" must read theta^2 <= sigma^2
  (the noise variance sigma^2 - theta^2 must not be negative; negative theta is as
  valid), and I(X; Z) is infinite at theta^2 = sigma^2, not theta = sigma^2;
* C.2 and eq. 3: sigma^2 I - B is a noise covariance only for 0 <= B_ii < sigma^2
  (strictly: at B_ii = sigma^2 eqs. 22 and 24 diverge), which `jtex_model` requires;
  eq. 3 prints B as a garbled 3-column matrix, appendix E's diag(0.006, 0.006) is used;
  C.2's "A A^dagger" in p_B(x) is A A^T;
* eq. 22 sums log(sigma^2 - B_ii) over i = 1..K (latents); the sum runs over the data
  dimensions of the noise covariance (the same here, K = D = 2);
* appendix E's `gaussian` noise "N(0, 0.000001)" is read as isotropic, 1e-6 I_4;
* the section 3 text sends Case 1 to appendix C.2 and Case 2 to C.1, whose titles say
  the opposite; we cite the equations by number.

Eqs. 13, 14, 16, 20, 21, 23, 24 and 27 are used as printed.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
import tempfile
import threading
import zipfile
from collections.abc import Callable

import numpy as np
from scipy import stats

from tfvae.data.errors import DataError
from tfvae.data.errors import known_list

TYPES = ("linear_jtex", "cubic_jtex", "gaussian", "mobius")
LINEAR_TYPES = ("linear_jtex", "gaussian")
GENERATORS = ("network", "exact")
SPLITS = ("train", "valid", "test")
NUM_REPLICATES = 5  # the paper's; any replicate >= 0 can be generated
NUM_PER_SPLIT = 500
SEED_BASE = 2020
LATENT_DIM = 2

JTEX_A = np.array([[0.75, 0.25], [1.5, -1.0]])
JTEX_B = np.diag([0.006, 0.006])
JTEX_NOISE_VARIANCE = 0.01  # sigma_eps^2
GAUSSIAN_A = np.array(
  [[-0.7074, 0.0995, 0.0286, 0.1240], [0.7074, 0.9948, -0.9995, 0.9920]]
)
GAUSSIAN_NOISE_VARIANCE = 1e-6
MOBIUS_COEFFICIENTS = (1 + 0j, 1 + 4j, 1 + 0j, 7 + 4j)  # a, b, c, d
MOBIUS_NOISE_VARIANCE = 1e-5
for _constant in (JTEX_A, JTEX_B, GAUSSIAN_A):
  _constant.setflags(write=False)

CACHE_DIR_ENV = "TFVAE_CACHE_DIR"
NETWORK_HIDDEN = (50, 50)
NETWORK_STEPS = 3000
NETWORK_TRAIN_SIZE = 4096
NETWORK_LEARNING_RATE = 0.01
NETWORK_HELDOUT_SIZE = 20000
# Names the cached weights: change it whenever the network or its training changes.
NETWORK_TAG = "mlp2x50tanh_n4096_s3000_v1"


@dataclasses.dataclass(frozen=True, eq=False)
class TrueModel:
  """A ground-truth model x|z = mean(z) + eps, z ~ N(0, I), eps ~ N(0, diag(noise_variance)).

  Attributes:
    kind: one of `TYPES`.
    latent_dim: size of z (2).
    data_dim: size of x.
    mean: numpy callable, z [n, latent_dim] -> E[x|z] [n, data_dim] (float64).
    noise_variance: [data_dim] diagonal of the noise covariance (the decoder's fixed noise).
    weight: W [data_dim, latent_dim] with mean(z) = W z (linear sets) or (W z)^3
      (`cubic_jtex`); None for `mobius`.
    a: the paper's A ([2, 2] for the JTEx sets, [2, 4] for `gaussian`); None for `mobius`.
    b: the JTEx sets' diagonal B [2, 2]; None otherwise.
    sigma2: the paper's sigma_eps^2.
    generator: `mobius` only: "network" or "exact"; None otherwise.
    heldout_rmse: `mobius` with the network only: f's RMSE against m on held-out z.
  """

  kind: str
  latent_dim: int
  data_dim: int
  mean: Callable[[np.ndarray], np.ndarray]
  noise_variance: np.ndarray
  weight: np.ndarray | None = None
  a: np.ndarray | None = None
  b: np.ndarray | None = None
  sigma2: float = 0.0
  generator: str | None = None
  heldout_rmse: float | None = None

  @property
  def noise_cov(self) -> np.ndarray:
    """The noise covariance diag(noise_variance), [data_dim, data_dim]."""
    return np.diag(self.noise_variance)


def _frozen(array) -> np.ndarray:
  out = np.array(array, dtype=np.float64)
  out.setflags(write=False)
  return out


def _linear_mean(weight: np.ndarray, z: np.ndarray) -> np.ndarray:
  return np.asarray(z, np.float64) @ weight.T


def _cubic_mean(weight: np.ndarray, z: np.ndarray) -> np.ndarray:
  return (np.asarray(z, np.float64) @ weight.T) ** 3


def jtex_model(
  a=JTEX_A, b=JTEX_B, sigma2: float = JTEX_NOISE_VARIANCE, *, cubic: bool = False
) -> TrueModel:
  """The JTEx model of Yacoby et al. (2020), eq. 3 / eqs. 17-19 (appendix E's defaults).

  x|z = L z + eps (or (L z)^3 + eps with `cubic`), L = Cholesky(A A^T + B),
  eps ~ N(0, sigma^2 I - B). Another B gives the family studied in section 3,
  case 1 ("we fix A and learn theta = B"), all with the same p(x) in the linear case.

  Departure: the paper allows B_ii "between 0 and sigma^2"; the noise covariance
  sigma^2 I - B is a covariance (and eqs. 22 and 24 are finite) only for
  0 <= B_ii < sigma^2, which is what we require. (Eq. 3 prints B as a garbled
  3-column matrix; appendix E gives diag(0.006, 0.006), used here.)

  Raises:
    DataError: B is not diagonal or a B_ii is outside [0, sigma^2).
  """
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  diag = np.diag(b)
  if b.shape != (a.shape[0],) * 2 or np.any(b != np.diag(diag)):
    raise DataError(f"B must be a diagonal {a.shape[0]}x{a.shape[0]} matrix, got {b.tolist()}.")
  if np.any(diag < 0) or np.any(diag >= sigma2):
    raise DataError(f"B's diagonal must lie in [0, sigma^2 = {sigma2}), got {diag.tolist()}.")
  weight = _frozen(np.linalg.cholesky(a @ a.T + b))
  mean = _cubic_mean if cubic else _linear_mean
  return TrueModel(
    kind="cubic_jtex" if cubic else "linear_jtex",
    latent_dim=a.shape[1],
    data_dim=a.shape[0],
    mean=functools.partial(mean, weight),
    noise_variance=_frozen(sigma2 - diag),
    weight=weight,
    a=_frozen(a),
    b=_frozen(b),
    sigma2=float(sigma2),
  )


def gaussian_model(a=GAUSSIAN_A, sigma2: float = GAUSSIAN_NOISE_VARIANCE) -> TrueModel:
  """The "Gaussian" set of Yacoby et al. (2020), appendix E: x|z = z^T A + eps.

  Departure: the paper writes eps ~ N(0, 0.000001) for x in R^4; we read it as
  isotropic noise N(0, 1e-6 I_4).
  """
  a = np.asarray(a, np.float64)
  weight = _frozen(a.T)
  return TrueModel(
    kind="gaussian",
    latent_dim=a.shape[0],
    data_dim=a.shape[1],
    mean=functools.partial(_linear_mean, weight),
    noise_variance=_frozen(np.full(a.shape[1], sigma2)),
    weight=weight,
    a=_frozen(a),
    sigma2=float(sigma2),
  )


def mobius(z: np.ndarray) -> np.ndarray:
  """m(z) = (a z + b) / (c z + d) with z = z1 + i z2, as [n, 2] (real, imaginary) parts.

  Yacoby et al. (2020), appendix E, with a, b, c, d = `MOBIUS_COEFFICIENTS`.
  """
  z = np.asarray(z, np.float64)
  a, b, c, d = MOBIUS_COEFFICIENTS
  w = z[:, 0] + 1j * z[:, 1]
  m = (a * w + b) / (c * w + d)
  return np.stack([m.real, m.imag], axis=1)


def mobius_model(generator: str = "network", cache_dir=None) -> TrueModel:
  """The Mobius set's model: mean f (the cached network) or m (`generator="exact"`)."""
  _check_generator(generator)
  rmse = None
  if generator == "network":
    net = mobius_network(cache_dir)
    mean, rmse = net, net.heldout_rmse
  else:
    mean = mobius
  return TrueModel(
    kind="mobius",
    latent_dim=LATENT_DIM,
    data_dim=2,
    mean=mean,
    noise_variance=_frozen(np.full(2, MOBIUS_NOISE_VARIANCE)),
    sigma2=MOBIUS_NOISE_VARIANCE,
    generator=generator,
    heldout_rmse=rmse,
  )


def true_model(kind: str, *, generator: str = "network", cache_dir=None) -> TrueModel:
  """The ground-truth model of data set `kind` (a `TrueModel`).

  Args:
    kind: one of `TYPES`.
    generator: `mobius` only, "network" (the paper's) or "exact"; checked but
      unused for the other kinds, whose mean is the exact function.
    cache_dir: `mobius` with the network only; see `cache_path`.

  Raises:
    DataError: unknown kind or generator.
  """
  _check_kind(kind)
  _check_generator(generator)
  if kind == "linear_jtex":
    return jtex_model()
  if kind == "cubic_jtex":
    return jtex_model(cubic=True)
  if kind == "gaussian":
    return gaussian_model()
  return mobius_model(generator, cache_dir)


def sample(model: TrueModel, num: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
  """Draws (x [num, data_dim], z [num, latent_dim]), float64: z first, then the noise."""
  z = rng.standard_normal((num, model.latent_dim))
  noise = rng.standard_normal((num, model.data_dim)) * np.sqrt(model.noise_variance)
  return model.mean(z) + noise, z


def split_seed(kind: str, replicate: int, split: str) -> list[int]:
  """The seed of one split: [2020, TYPES.index(kind), replicate, SPLITS.index(split)]."""
  return [SEED_BASE, TYPES.index(kind), replicate, SPLITS.index(split)]


def generate(
  kind: str,
  replicate: int = 0,
  num_per_split: int = NUM_PER_SPLIT,
  cache_dir=None,
  generator: str = "network",
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """One data set of Yacoby et al. (2020), appendix E: split -> (x, z), float32.

  Args:
    kind: one of `TYPES`.
    replicate: which of the data sets of this kind (the paper has 0..4); any int >= 0.
    num_per_split: points in each of train, valid and test (the paper: 500).
    cache_dir: where the Mobius network is cached (`cache_path`).
    generator: `mobius` only: "network" (default, the paper's) or "exact".

  Returns:
    {"train": (x, z), "valid": (x, z), "test": (x, z)}, x [n, data_dim] and the
    true z [n, 2], float32, drawn with the seed rule of the module doc.

  Raises:
    DataError (a ValueError): unknown kind or generator, negative replicate,
      num_per_split < 1.
  """
  _check_kind(kind)
  _check_int("replicate", replicate, 0)
  _check_int("num_per_split", num_per_split, 1)
  model = true_model(kind, generator=generator, cache_dir=cache_dir)
  out = {}
  for split in SPLITS:
    rng = np.random.RandomState(split_seed(kind, int(replicate), split))
    x, z = sample(model, int(num_per_split), rng)
    out[split] = (x.astype(np.float32), z.astype(np.float32))
  return out


def _check_kind(kind) -> None:
  if kind not in TYPES:
    raise DataError(f"Unknown LiBI data set {kind!r}; the kinds are {known_list(TYPES)}.")


def _check_generator(generator) -> None:
  if generator not in GENERATORS:
    raise DataError(f"Unknown generator {generator!r}; expected one of {known_list(GENERATORS)}.")


def _check_int(name: str, value, low: int) -> None:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
    raise DataError(f"{name}={value!r}: expected an integer >= {low}.")


# --- The Mobius network -------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class MobiusNetwork:
  """The trained MLP f ~ m as numpy weights; `net(z)` evaluates it in float64.

  Attributes:
    weights: (W0, b0, W1, b1, W2, b2), hidden layers tanh, last layer linear.
    heldout_rmse: RMSE of f against m on `NETWORK_HELDOUT_SIZE` held-out z ~ p(z).
  """

  weights: tuple[np.ndarray, ...]
  heldout_rmse: float

  def __call__(self, z: np.ndarray) -> np.ndarray:
    layers = list(zip(self.weights[::2], self.weights[1::2]))  # (kernel, bias) pairs
    h = np.asarray(z, np.float64)
    for w, b in layers[:-1]:
      h = np.tanh(h @ w + b)
    w, b = layers[-1]
    return h @ w + b


def default_cache_dir() -> pathlib.Path:
  """`$TFVAE_CACHE_DIR` if set and not empty, else `~/.cache/tfvae`."""
  return pathlib.Path(os.environ.get(CACHE_DIR_ENV) or pathlib.Path.home() / ".cache" / "tfvae")


def cache_path(cache_dir=None) -> pathlib.Path:
  """The Mobius network's weights file: `<cache_dir>/libi_mobius_<NETWORK_TAG>.npz`.

  cache_dir: the argument, else `default_cache_dir()`.
  """
  root = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
  return root / f"libi_mobius_{NETWORK_TAG}.npz"


def mobius_network(cache_dir=None) -> MobiusNetwork:
  """Loads the cached Mobius network, training and caching it first if needed.

  A missing or unreadable cache file is (re)written atomically (temporary file +
  `os.replace`). Only training imports TensorFlow.
  """
  path = cache_path(cache_dir)
  net = _load_network(path)
  if net is None:
    net = _in_fresh_thread(train_mobius_network)
    _save_network(net, path)
  return net


def _weight_names() -> list[str]:
  return [f"{p}{i}" for i in range(len(NETWORK_HIDDEN) + 1) for p in ("w", "b")]


def _load_network(path: pathlib.Path) -> MobiusNetwork | None:
  try:
    with np.load(path, allow_pickle=False) as f:
      if str(f["tag"]) != NETWORK_TAG:
        return None
      weights = tuple(_frozen(f[name]) for name in _weight_names())
      rmse = float(f["heldout_rmse"])
  except (OSError, KeyError, ValueError, zipfile.BadZipFile):
    return None
  if [w.shape for w in weights] != _layer_shapes():
    return None
  return MobiusNetwork(weights, rmse)


def _save_network(net: MobiusNetwork, path: pathlib.Path) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  arrays = dict(zip(_weight_names(), net.weights))
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      np.savez(f, tag=np.array(NETWORK_TAG), heldout_rmse=np.array(net.heldout_rmse), **arrays)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is as readable as a download
    os.replace(tmp, path)
  except BaseException:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise


def _layer_shapes() -> list[tuple[int, ...]]:
  sizes = [LATENT_DIM, *NETWORK_HIDDEN, 2]
  shapes = []
  for n_in, n_out in zip(sizes[:-1], sizes[1:]):
    shapes += [(n_in, n_out), (n_out,)]
  return shapes


def _in_fresh_thread(fn):
  """Runs fn() in a new thread: TensorFlow's strategy and graph contexts are per thread."""
  result = {}

  def work():
    try:
      result["value"] = fn()
    except BaseException as e:  # re-raised in the caller's thread
      result["error"] = e

  thread = threading.Thread(target=work, name="libi-mobius-training")
  thread.start()
  thread.join()
  if "error" in result:
    raise result["error"]
  return result["value"]


def _initial_weights(rng: np.random.RandomState) -> list[np.ndarray]:
  """Glorot-uniform kernels and zero biases for the layers of `_layer_shapes`."""
  weights = []
  for shape in _layer_shapes():
    if len(shape) == 1:
      weights.append(np.zeros(shape))
    else:
      limit = np.sqrt(6.0 / sum(shape))
      weights.append(rng.uniform(-limit, limit, shape))
  return weights


def train_mobius_network() -> MobiusNetwork:
  """Trains f ~ m as the module doc says (a few seconds on a CPU); caches nothing.

  Imports TensorFlow and Keras. Inputs and initial weights come from
  `RandomState([2020, 3])`, the held-out check from `RandomState([2020, 3, 1])`;
  the global Keras/TensorFlow seeds are left alone.
  """
  import keras
  import tensorflow as tf

  rng = np.random.RandomState([SEED_BASE, TYPES.index("mobius")])
  z = rng.standard_normal((NETWORK_TRAIN_SIZE, LATENT_DIM))
  target = mobius(z)
  center, scale = target.mean(axis=0), target.std(axis=0)
  init = _initial_weights(rng)
  with tf.device("/CPU:0"):
    layers = [keras.layers.Dense(n, activation="tanh") for n in NETWORK_HIDDEN]
    model = keras.Sequential([keras.Input((LATENT_DIM,)), *layers, keras.layers.Dense(2)])
    model.set_weights([w.astype(np.float32) for w in init])
    schedule = keras.optimizers.schedules.CosineDecay(
      NETWORK_LEARNING_RATE, NETWORK_STEPS, alpha=0.01
    )
    optimizer = keras.optimizers.Adam(schedule)
    optimizer.build(model.trainable_variables)
    inputs = tf.constant(z, tf.float32)
    targets = tf.constant((target - center) / scale, tf.float32)

    @tf.function
    def fit(steps):
      for _ in tf.range(steps):
        with tf.GradientTape() as tape:
          loss = tf.reduce_mean(tf.square(model(inputs) - targets))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    fit(tf.constant(NETWORK_STEPS))
  weights = [w.astype(np.float64) for w in model.get_weights()]
  weights[-2], weights[-1] = weights[-2] * scale, weights[-1] * scale + center
  net = MobiusNetwork(tuple(_frozen(w) for w in weights), 0.0)
  heldout = np.random.RandomState([SEED_BASE, TYPES.index("mobius"), 1])
  z_test = heldout.standard_normal((NETWORK_HELDOUT_SIZE, LATENT_DIM))
  rmse = float(np.sqrt(np.mean((net(z_test) - mobius(z_test)) ** 2)))
  return dataclasses.replace(net, heldout_rmse=rmse)


# --- Closed forms (appendix C) ------------------------------------------------------


def _linear(model) -> TrueModel:
  if isinstance(model, str):
    _check_kind(model)
    model = true_model(model, generator="exact")
  if model.kind not in LINEAR_TYPES:
    raise DataError(
      f"Closed forms exist only for the linear sets {known_list(LINEAR_TYPES)}, "
      f"not for {model.kind!r}."
    )
  return model


def linear_marginal(model) -> tuple[np.ndarray, np.ndarray]:
  """(mean, cov) of p(x) = N(0, W W^T + Psi) for a linear model (or its kind).

  For `linear_jtex`: W W^T + Psi = A A^T + B + sigma^2 I - B = A A^T + sigma^2 I,
  whatever B (Yacoby et al. (2020), appendix C.2). For `gaussian`: A^T A + 1e-6 I_4.
  """
  m = _linear(model)
  w = m.weight
  return np.zeros(m.data_dim), w @ w.T + m.noise_cov


def log_marginal(model, x: np.ndarray) -> np.ndarray:
  """Exact log p(x) [n] of a linear model, float64."""
  mean, cov = linear_marginal(model)
  x = np.asarray(x, np.float64).reshape(-1, len(mean))
  return np.atleast_1d(stats.multivariate_normal(mean, cov).logpdf(x))


def exact_posterior(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """p(z|x) of a linear model: (means [n, k], cov [k, k]), float64.

  Sigma = (I + W^T Psi^-1 W)^-1 and mu = Sigma W^T Psi^-1 x: Yacoby et al. (2020),
  eqs. 23-24 for `linear_jtex` (W = Cholesky(A A^T + B), Psi = sigma^2 I - B; as
  printed), and the same formula with W = A^T, Psi = 1e-6 I for `gaussian`
  (x = A^T z + eps; not printed in the paper). Solved, not inverted explicitly.
  """
  m = _linear(model)
  x = np.asarray(x, np.float64).reshape(-1, m.data_dim)
  scaled = m.weight / m.noise_variance[:, None]  # Psi^-1 W, [d, k]
  precision = np.eye(m.latent_dim) + m.weight.T @ scaled
  cov = np.linalg.inv(precision)
  cov = 0.5 * (cov + cov.T)
  means = np.linalg.solve(precision, scaled.T @ x.T).T
  return means, cov


def best_mean_field(cov: np.ndarray) -> np.ndarray:
  """Variances [k] of the diagonal Gaussian closest to N(mu, cov) in KL(q || p).

  Yacoby et al. (2020), appendix C.3: argmin over diagonal D of
  KL(N(0, D) || N(0, cov)) has D_ii = 1 / (cov^-1)_ii (eq. 27). (The best mean-field
  q for N(mu, cov) has the same mean mu.)
  """
  cov = np.asarray(cov, np.float64)
  return 1.0 / np.diag(np.linalg.inv(cov))


def mutual_information(model) -> float:
  """I(X; Z) in nats of a linear model: (log det(W W^T + Psi) - log det Psi) / 2.

  For `linear_jtex` this is Yacoby et al. (2020), eq. 22:
  (log det(A A^T + sigma^2 I) - sum_i log(sigma^2 - B_ii)) / 2. Departure: eq. 22 sums
  over i = 1..K, the latent size; the sum is over the data dimensions of the noise
  covariance (the same here, K = D = 2). It equals -log det(Sigma_{z|x}) / 2, the
  entropy difference H(Z) - H(Z|X).
  """
  m = _linear(model)
  _, cov = linear_marginal(m)
  _, logdet = np.linalg.slogdet(cov)
  return 0.5 * float(logdet - np.sum(np.log(m.noise_variance)))


# --- The 1-d model of appendix C.1 ---------------------------------------------------


def _check_scalar(theta: float, sigma2: float) -> None:
  if not sigma2 > 0 or not theta**2 <= sigma2:
    raise DataError(
      f"The 1-d model needs sigma^2 > 0 and theta^2 <= sigma^2 (noise variance "
      f"sigma^2 - theta^2 >= 0), got theta={theta}, sigma^2={sigma2}."
    )


def scalar_posterior(x, theta: float, sigma2: float) -> tuple[np.ndarray, float]:
  """p(z|x) = N(theta x / sigma^2, (sigma^2 - theta^2) / sigma^2) of x = theta z + eps.

  Yacoby et al. (2020), eq. 16 (as printed), with z ~ N(0, 1) and
  eps ~ N(0, sigma^2 - theta^2) (eqs. 10-12), so that p(x) = N(0, sigma^2). Departure:
  the paper's condition 0 <= theta <= sigma^2 should read theta^2 <= sigma^2 (the
  noise variance must not be negative; negative theta is as valid). Returns
  (means, variance).
  """
  _check_scalar(theta, sigma2)
  return theta / sigma2 * np.asarray(x, np.float64), (sigma2 - theta**2) / sigma2


def scalar_mutual_information(theta: float, sigma2: float) -> float:
  """I(X; Z) = log(sigma^2 / (sigma^2 - theta^2)) / 2 nats of the 1-d model of appendix C.1.

  Infinite when theta^2 = sigma^2 (no noise).

  Departure: Yacoby et al. (2020), eq. 15, prints (log(sigma^2 / (sigma^2 - theta^2)) - 4) / 2;
  the "- 4" is a typo. From eqs. 13-14, I = (log det diag(sigma^2, 1) - log det
  [[sigma^2, theta], [theta, 1]]) / 2 = log(sigma^2 / (sigma^2 - theta^2)) / 2, which is 0
  at theta = 0 (the text's "when theta = 0, we have that I(X; Z)" misses "= 0") and
  infinite at theta^2 = sigma^2 (printed as theta = sigma^2).
  """
  _check_scalar(theta, sigma2)
  if theta**2 == sigma2:
    return float("inf")
  return 0.5 * float(np.log(sigma2 / (sigma2 - theta**2)))
