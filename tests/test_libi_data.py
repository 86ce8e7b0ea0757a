"""Tests for tfvae.data.libi: the synthetic sets and closed forms of Yacoby et al. (2020).

The closed forms are checked against oracles that do not use them: quadrature of
Bayes' rule on a grid, the Gaussian conditioning formula on Monte-Carlo moments,
Monte-Carlo estimates of I(X; Z) and a numerical minimisation of the KL.
"""

import dataclasses
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import optimize
from scipy import special
from scipy import stats

from tfvae.data import DataError
from tfvae.data import libi

A = np.array([[0.75, 0.25], [1.5, -1.0]])
SIGMA2 = 0.01
B_PAPER = np.diag([0.006, 0.006])
B_OTHER = np.diag([0.009, 0.001])


@pytest.fixture(scope="module")
def network_dir(tmp_path_factory):
  """A cache directory holding the trained Mobius network (trained once, a few seconds)."""
  cache = tmp_path_factory.mktemp("libi_cache")
  libi.mobius_network(cache)
  return cache


# --- Arguments and the true models ----------------------------------------------------


def test_bad_arguments_raise_clear_value_errors():
  with pytest.raises(ValueError) as e:
    libi.generate("linear")
  assert isinstance(e.value, DataError)
  for kind in libi.TYPES:
    assert repr(kind) in str(e.value)
  with pytest.raises(ValueError, match="replicate=-1"):
    libi.generate("gaussian", replicate=-1)
  with pytest.raises(ValueError, match="num_per_split"):
    libi.generate("gaussian", num_per_split=0)
  with pytest.raises(ValueError, match="'exact', 'network'"):
    libi.generate("mobius", generator="true")
  with pytest.raises(ValueError, match="Unknown LiBI data set 'cubic'"):
    libi.true_model("cubic")
  for kind in ("cubic_jtex", "mobius"):
    for fn in (libi.linear_marginal, libi.exact_posterior, libi.mutual_information):
      args = (kind, np.zeros((1, 2))) if fn is libi.exact_posterior else (kind,)
      with pytest.raises(ValueError, match="only for the linear sets"):
        fn(*args)
  with pytest.raises(ValueError, match=r"\[0, sigma\^2"):
    libi.jtex_model(b=np.diag([0.01, 0.0]))
  with pytest.raises(ValueError, match="diagonal"):
    libi.jtex_model(b=[[0.001, 0.001], [0.001, 0.001]])
  with pytest.raises(ValueError, match="theta\\^2 <= sigma\\^2"):
    libi.scalar_mutual_information(0.2, SIGMA2)


def test_true_models_hold_the_papers_parameters():
  jtex = libi.true_model("linear_jtex")
  np.testing.assert_allclose(jtex.weight @ jtex.weight.T, A @ A.T + B_PAPER, rtol=1e-14)
  assert np.allclose(jtex.weight, np.tril(jtex.weight)) and (np.diag(jtex.weight) > 0).all()
  np.testing.assert_allclose(jtex.noise_variance, [0.004, 0.004], rtol=1e-14)
  np.testing.assert_array_equal(jtex.a, A)
  assert jtex.sigma2 == SIGMA2 and jtex.noise_cov.shape == (2, 2)
  gauss = libi.true_model("gaussian")
  assert (gauss.latent_dim, gauss.data_dim) == (2, 4)
  np.testing.assert_array_equal(gauss.noise_variance, [1e-6] * 4)
  np.testing.assert_array_equal(gauss.weight, libi.GAUSSIAN_A.T)
  z = np.random.RandomState(0).standard_normal((7, 2))
  np.testing.assert_allclose(gauss.mean(z), z @ libi.GAUSSIAN_A, rtol=1e-14)  # z^T A
  mob = libi.true_model("mobius", generator="exact")
  np.testing.assert_array_equal(mob.noise_variance, [1e-5, 1e-5])
  assert mob.weight is None and mob.generator == "exact"
  with pytest.raises(dataclasses.FrozenInstanceError):
    jtex.sigma2 = 1.0
  with pytest.raises(ValueError, match="read-only"):
    jtex.weight[0, 0] = 1.0


def test_cubic_mean_is_the_cube_of_the_linear_mean():
  z = np.random.RandomState(1).standard_normal((100, 2))
  linear, cubic = libi.true_model("linear_jtex"), libi.true_model("cubic_jtex")
  np.testing.assert_array_equal(cubic.mean(z), linear.mean(z) ** 3)
  np.testing.assert_array_equal(cubic.noise_variance, linear.noise_variance)


def test_mobius_exact_matches_python_complex_arithmetic():
  z = np.random.RandomState(2).standard_normal((25, 2)) * 2
  expected = []
  for z1, z2 in z.tolist():
    w = complex(z1, z2)
    m = (complex(1, 0) * w + complex(1, 4)) / (complex(1, 0) * w + complex(7, 4))
    expected.append([m.real, m.imag])
  np.testing.assert_allclose(libi.mobius(z), expected, rtol=1e-14, atol=1e-15)
  model = libi.true_model("mobius", generator="exact")
  np.testing.assert_array_equal(model.mean(z), libi.mobius(z))


# --- Generated data ------------------------------------------------------------------


def test_splits_follow_the_seed_rule_and_the_noise_model(network_dir):
  for kind in libi.TYPES:
    model = libi.true_model(kind, cache_dir=network_dir)
    sets = libi.generate(kind, cache_dir=network_dir)
    assert list(sets) == ["train", "valid", "test"]
    residuals = []
    for split, (x, z) in sets.items():
      assert x.shape == (500, model.data_dim) and z.shape == (500, 2)
      assert x.dtype == z.dtype == np.float32
      rng = np.random.RandomState([2020, libi.TYPES.index(kind), 0, libi.SPLITS.index(split)])
      z64 = rng.standard_normal((500, 2))
      noise = rng.standard_normal((500, model.data_dim)) * np.sqrt(model.noise_variance)
      np.testing.assert_array_equal(z, z64.astype(np.float32))
      np.testing.assert_array_equal(x, (model.mean(z64) + noise).astype(np.float32))
      residuals.append(x - model.mean(z))
    residuals = np.concatenate(residuals)  # 1500 draws: the variance is within 4 standard errors
    np.testing.assert_allclose(residuals.var(axis=0) / model.noise_variance, 1.0, atol=0.15)


def test_same_arguments_same_arrays_and_replicates_differ():
  first = libi.generate("linear_jtex", replicate=3)
  again = libi.generate("linear_jtex", replicate=3)
  for split in libi.SPLITS:
    for a, b in zip(first[split], again[split]):
      np.testing.assert_array_equal(a, b)
  trains = [libi.generate("cubic_jtex", replicate=r)["train"][0] for r in range(5)]
  for a, b in itertools.combinations(trains, 2):
    assert not np.allclose(a, b)
  x = [first[split][0] for split in libi.SPLITS]
  for a, b in itertools.combinations(x, 2):
    assert not np.allclose(a, b)
  later = libi.generate("gaussian", replicate=7, num_per_split=10)
  assert later["test"][0].shape == (10, 4)


# --- Closed forms ----------------------------------------------------------------------


@pytest.mark.parametrize("b", [B_PAPER, B_OTHER], ids=["paper_B", "other_B"])
def test_jtex_marginal_does_not_depend_on_b(b):
  model = libi.jtex_model(b=b)
  mean, cov = libi.linear_marginal(model)
  np.testing.assert_array_equal(mean, [0.0, 0.0])
  np.testing.assert_allclose(cov, A @ A.T + SIGMA2 * np.eye(2), rtol=1e-13)
  x, _ = libi.sample(model, 200_000, np.random.RandomState(3))
  np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=0.01)
  np.testing.assert_allclose(np.cov(x.T), cov, rtol=0.02, atol=0.005)


def test_gaussian_marginal_matches_samples():
  x, _ = libi.sample(libi.true_model("gaussian"), 200_000, np.random.RandomState(4))
  mean, cov = libi.linear_marginal("gaussian")
  np.testing.assert_allclose(cov, libi.GAUSSIAN_A.T @ libi.GAUSSIAN_A + 1e-6 * np.eye(4))
  np.testing.assert_allclose(x.mean(axis=0), mean, atol=0.01)
  np.testing.assert_allclose(np.cov(x.T), cov, atol=0.01)


def _grid_posterior(model, x, center, half_width, points=401):
  """Mean, covariance and log p(x) of p(z|x) by quadrature of p(x|z) p(z) on a grid."""
  axis = np.linspace(-half_width, half_width, points)
  z = np.stack(np.meshgrid(center[0] + axis, center[1] + axis, indexing="ij"), -1).reshape(-1, 2)
  log_joint = stats.norm.logpdf(z).sum(1) + stats.norm.logpdf(
    x, model.mean(z), np.sqrt(model.noise_variance)
  ).sum(1)
  log_px = special.logsumexp(log_joint) + 2 * np.log(axis[1] - axis[0])
  w = np.exp(log_joint - special.logsumexp(log_joint))
  mean = w @ z
  return mean, (z - mean).T @ ((z - mean) * w[:, None]), log_px


@pytest.mark.parametrize("kind, half_width", [("linear_jtex", 1.0), ("gaussian", 0.012)])
def test_exact_posterior_matches_grid_quadrature(kind, half_width):
  """Bayes' rule by brute force, on a grid around the z that generated each x."""
  model = libi.true_model(kind)
  x, z = libi.sample(model, 4, np.random.RandomState(5))
  means, cov = libi.exact_posterior(model, x)
  std = np.sqrt(np.diag(cov))
  assert means.shape == (4, 2) and cov.shape == (2, 2)
  for xi, zi, mi in zip(x, z, means):
    grid_mean, grid_cov, log_px = _grid_posterior(model, xi, zi, half_width)
    np.testing.assert_allclose(mi, grid_mean, atol=1e-4 * std.min())
    np.testing.assert_allclose(cov, grid_cov, rtol=1e-4, atol=1e-4 * std.min() ** 2)
    np.testing.assert_allclose(libi.log_marginal(model, xi), [log_px], rtol=1e-8)


@pytest.mark.parametrize("kind", libi.LINEAR_TYPES)
def test_exact_posterior_matches_monte_carlo_conditioning(kind):
  """p(z|x) from the conditioning formula applied to the sampled joint covariance of (x, z)."""
  model = libi.true_model(kind)
  x, z = libi.sample(model, 400_000, np.random.RandomState(6))
  joint = np.cov(np.concatenate([x, z], axis=1).T)
  d = model.data_dim
  s_xx, s_zx, s_zz = joint[:d, :d], joint[d:, :d], joint[d:, d:]
  gain = np.linalg.solve(s_xx, s_zx.T).T  # E[z|x] = gain x
  mc_cov = s_zz - gain @ s_zx.T
  probe = x[:5]
  means, cov = libi.exact_posterior(model, probe)
  np.testing.assert_allclose(cov, mc_cov, rtol=0.02, atol=0.02 * np.abs(cov).max())
  std = np.sqrt(np.diag(cov))
  np.testing.assert_allclose(means, probe @ gain.T, atol=0.05 * std.min())


def test_mutual_information_of_the_linear_sets():
  models = (libi.jtex_model(b=B_PAPER), libi.jtex_model(b=B_OTHER), libi.true_model("gaussian"))
  for model in models:
    mi = libi.mutual_information(model)
    # Entropy difference H(Z) - H(Z|X), computed from the posterior covariance.
    _, cov = libi.exact_posterior(model, np.zeros((1, model.data_dim)))
    assert mi == pytest.approx(-0.5 * np.linalg.slogdet(cov)[1], rel=1e-9)
    # Monte Carlo of E[log p(x|z) - log p(x)], p(x) written out here from the paper.
    w = model.weight
    x, z = libi.sample(model, 200_000, np.random.RandomState(7))
    px = stats.multivariate_normal(np.zeros(model.data_dim), w @ w.T + model.noise_cov)
    log_lik = stats.norm.logpdf(x, z @ w.T, np.sqrt(model.noise_variance)).sum(1)
    terms = log_lik - px.logpdf(x)
    assert abs(terms.mean() - mi) < 5 * terms.std() / np.sqrt(len(terms))
  # Eq. 22 as printed for Linear JTEx; p(x) is the same for both B, I(X; Z) is not.
  for b in (B_PAPER, B_OTHER):
    log_det = np.linalg.slogdet(A @ A.T + SIGMA2 * np.eye(2))[1]
    eq22 = 0.5 * (log_det - np.log(SIGMA2 - np.diag(b)).sum())
    assert libi.mutual_information(libi.jtex_model(b=b)) == pytest.approx(eq22, rel=1e-12)
  other_b = libi.jtex_model(b=B_OTHER)
  assert libi.mutual_information(other_b) > libi.mutual_information("linear_jtex")


def _kl_diag_to_full(variances, cov):
  """KL(N(0, diag(variances)) || N(0, cov)) written out."""
  k = len(variances)
  inv = np.linalg.inv(cov)
  return 0.5 * (
    np.linalg.slogdet(cov)[1] - np.log(variances).sum() + inv.diagonal() @ variances - k
  )


def test_best_mean_field_minimises_the_kl():
  rng = np.random.RandomState(8)
  m = rng.standard_normal((3, 3))
  covs = [
    libi.exact_posterior("linear_jtex", np.zeros((1, 2)))[1],
    libi.exact_posterior("gaussian", np.zeros((1, 4)))[1],  # variances near 1e-6
    m @ m.T + 0.1 * np.eye(3),
  ]
  for cov in covs:
    best = libi.best_mean_field(cov)
    found = optimize.minimize(
      lambda s, c=cov: _kl_diag_to_full(np.exp(s), c), np.log(np.diag(cov)), method="BFGS",
      options={"gtol": 1e-12},
    )
    np.testing.assert_allclose(best, np.exp(found.x), rtol=1e-5)
    assert _kl_diag_to_full(best, cov) <= found.fun + 1e-12
  # The JTEx posterior is correlated: the best mean-field fit is narrower than its marginals.
  assert (libi.best_mean_field(covs[0]) < np.diag(covs[0]) * 0.99).all()


def test_one_dimensional_model_of_appendix_c1():
  theta, sigma2 = 0.06, SIGMA2
  noise_std = np.sqrt(sigma2 - theta**2)
  rng = np.random.RandomState(9)
  z = rng.standard_normal(200_000)
  x = theta * z + noise_std * rng.standard_normal(z.shape)
  assert np.var(x) == pytest.approx(sigma2, rel=0.02)  # p(x) = N(0, sigma^2)
  # Posterior by quadrature over z.
  grid = np.linspace(-8, 8, 8001)
  for xi in (-0.15, 0.02, 0.1):
    log_lik = stats.norm.logpdf(xi, theta * grid, noise_std)
    log_joint = stats.norm.logpdf(grid) + log_lik
    w = np.exp(log_joint - special.logsumexp(log_joint))
    mean, var = libi.scalar_posterior(xi, theta, sigma2)
    assert mean == pytest.approx(w @ grid, abs=1e-9)
    assert var == pytest.approx(w @ (grid - w @ grid) ** 2, rel=1e-7)
  # I(X; Z): Monte Carlo of E[log p(x|z) - log p(x)].
  terms = stats.norm.logpdf(x, theta * z, noise_std) - stats.norm.logpdf(x, 0, np.sqrt(sigma2))
  mi = libi.scalar_mutual_information(theta, sigma2)
  assert abs(terms.mean() - mi) < 5 * terms.std() / np.sqrt(len(terms))
  assert mi == pytest.approx(-0.5 * np.log(libi.scalar_posterior(0.0, theta, sigma2)[1]))
  assert libi.scalar_mutual_information(0.0, sigma2) == 0.0
  assert libi.scalar_mutual_information(-0.5, 0.25) == np.inf
  assert libi.scalar_mutual_information(-theta, sigma2) == mi


# --- The Mobius network ------------------------------------------------------------------


def test_mobius_network_approximates_the_transform(network_dir):
  """f ~ m on held-out z: RMSE 9.2e-4 on these 20,000 z (6.4e-4 stored), 1.3e-4 for |z| < 2."""
  net = libi.mobius_network(network_dir)
  z = np.random.RandomState(10).standard_normal((20_000, 2))
  error = net(z) - libi.mobius(z)
  rmse = np.sqrt(np.mean(error**2))
  central = np.linalg.norm(z, axis=1) < 2
  print(f"Mobius network: held-out RMSE {rmse:.2e} (stored {net.heldout_rmse:.2e})")
  assert rmse < 2e-3 and net.heldout_rmse < 2e-3  # the noise's standard deviation is 3.2e-3
  assert np.sqrt(np.mean(error[central] ** 2)) < 3e-4
  assert np.quantile(np.abs(error), 0.99) < 2e-3
  # Same z and noise, the network instead of m.
  with_net = libi.generate("mobius", 1, cache_dir=network_dir)
  exact = libi.generate("mobius", 1, generator="exact")
  np.testing.assert_array_equal(with_net["valid"][1], exact["valid"][1])
  assert np.sqrt(np.mean((with_net["valid"][0] - exact["valid"][0]) ** 2)) < 2e-3
  again = libi.generate("mobius", 1, cache_dir=network_dir)
  np.testing.assert_array_equal(with_net["valid"][0], again["valid"][0])


def test_network_cache_is_reused_and_repaired(network_dir, tmp_path, monkeypatch):
  path = libi.cache_path(network_dir)
  assert path.is_file() and path.name.startswith("libi_mobius_")
  assert not [p for p in network_dir.iterdir() if p.suffix == ".tmp"]
  net = libi.mobius_network(network_dir)

  def no_training():
    raise AssertionError("trained although the cache was there")

  monkeypatch.setattr(libi, "train_mobius_network", no_training)
  for a, b in zip(libi.mobius_network(network_dir).weights, net.weights):
    np.testing.assert_array_equal(a, b)
  # An unreadable file is replaced by a freshly trained (here: stand-in) network.
  libi.cache_path(tmp_path).write_bytes(b"not an npz file")
  monkeypatch.setattr(libi, "train_mobius_network", lambda: net)
  libi.mobius_network(tmp_path)
  monkeypatch.setattr(libi, "train_mobius_network", no_training)
  assert libi.mobius_network(tmp_path).heldout_rmse == net.heldout_rmse


def test_cache_location_rule(monkeypatch, tmp_path):
  monkeypatch.setenv("TFVAE_CACHE_DIR", str(tmp_path / "env"))
  assert libi.cache_path().parent == tmp_path / "env"
  assert libi.cache_path(tmp_path / "arg").parent == tmp_path / "arg"
  monkeypatch.delenv("TFVAE_CACHE_DIR")
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  assert libi.cache_path().parent == tmp_path / "home" / ".cache" / "tfvae"


def test_cached_network_needs_no_tensorflow(network_dir):
  code = (
    "import sys; from tfvae.data import libi; "
    f"libi.generate('mobius', cache_dir={str(network_dir)!r}); "
    "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
  )
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=60)
