"""Gyrovector operations on the Poincare ball, the hyperbolic latent space of APo-VAE and P-VAE.

The Poincare ball of curvature -c (c > 0) is the open ball

  B_c^n = {z in R^n : c ||z||^2 < 1}

with the metric g_z = (lambda_z^c)^2 I, where lambda_z^c = 2 / (1 - c ||z||^2) is
the conformal factor. Its algebra is the gyrovector calculus of Ungar (2008), as used
by Ganea et al. (2018) for hyperbolic neural networks and by Mathieu et al.
(2019) and Dai et al. (2021) for hyperbolic VAEs:

  Mobius addition   x (+) y = ((1 + 2c<x,y> + c||y||^2) x + (1 - c||x||^2) y)
                              / (1 + 2c<x,y> + c^2 ||x||^2 ||y||^2),
  exponential map   exp_x(u) = x (+) (tanh(sqrt(c) lambda_x ||u|| / 2) u / (sqrt(c) ||u||)),
  logarithmic map   log_x(y) = 2 / (sqrt(c) lambda_x) artanh(sqrt(c) ||k||) k / ||k||,
                    k = (-x) (+) y,
  distance          d(x, y) = 2 / sqrt(c) artanh(sqrt(c) ||(-x) (+) y||),
  gyration          gyr[a, b] w = -(a (+) b) (+) (a (+) (b (+) w)),
  parallel transport P_{x->y}(v) = (lambda_x / lambda_y) gyr[y, -x] v,

(Ganea et al. (2018), section 2 and Lemma 2; Mathieu et al. (2019)).
From the origin the transport is the rescaling P_{0->y}(v) = (lambda_0 / lambda_y) v,
which the wrapped normal of Dai et al. (2021), eq. 7, uses. As c -> 0 every
operation tends to its Euclidean counterpart (x (+) y -> x + y, exp_x(u) -> x + u,
d(x, y) -> 2 ||x - y||, since lambda -> 2).

Every function takes the curvature as the keyword argument `c` (a positive
Python float or scalar tensor), broadcasts over leading dimensions, and reads
the last axis as the coordinates of a point or tangent vector.

Float32 numerics: a point whose norm rounds to 1 / sqrt(c) has an infinite
conformal factor and distance, so `project` pulls points back to the norm
(1 - BOUNDARY_MARGIN) / sqrt(c), and the exponential maps project their
results. Norms are taken as sqrt(max(||u||^2, tiny)), so that u / ||u|| and
tanh(a ||u||) / ||u|| have finite values and gradients at u = 0; artanh's
argument is clipped below 1 by ARTANH_MARGIN.

Near the boundary a float32 coordinate resolves the ball only coarsely (an
ulp of z moves it by about lambda_z ulp in geodesic distance), and a formula
should lose no more than that. The artanh forms of `distance` and `logmap`
lose far more when both points lie near the boundary: ||(-x) (+) y|| is then
within rounding of 1 / sqrt(c), and artanh multiplies that rounding by
1 / (1 - c ||(-x) (+) y||^2) = D / ((1 - c||x||^2)(1 - c||y||^2)). Both
functions are therefore evaluated in forms without that cancellation, from
the identity

  1 - 2c<x,y> + c^2 ||x||^2 ||y||^2 = D = c ||x - y||^2 + (1 - c||x||^2)(1 - c||y||^2),

which gives ||(-x) (+) y|| = ||x - y|| / sqrt(D) and
artanh(sqrt(c) ||(-x) (+) y||) = asinh(sqrt(c) ||x - y|| / sqrt((1 - c||x||^2)(1 - c||y||^2))).
In float32, the log-density of a wrapped normal at its samples with
1 - c||z||^2 in [1e-3, 1e-2] is then within 1e-4 of its float64 value at the
same z, as close as an ulp of z allows, where the artanh forms were 3e-2 off.
"""

import numpy as np
import tensorflow as tf

# The relative margin that `project` keeps from the boundary, by dtype: points
# have sqrt(c) ||z|| <= 1 - margin, well above the dtype's rounding near 1.
BOUNDARY_MARGIN = {tf.float16: 4e-3, tf.bfloat16: 1.6e-2, tf.float32: 1e-5, tf.float64: 1e-10}
# artanh(x) is evaluated at x <= 1 - margin, a few ulps below 1 in each dtype.
ARTANH_MARGIN = {tf.float16: 1e-3, tf.bfloat16: 8e-3, tf.float32: 1e-7, tf.float64: 1e-15}


def as_curvature(c, dtype):
  """The curvature magnitude c as a tensor of `dtype`.

  A Python float is converted directly to `dtype` (tf.cast would round it to
  float32 first, so that c = 0.3 would be off by 1e-8 in float64).

  Args:
    c: a positive Python float or scalar tensor.
    dtype: the floating dtype of the points.

  Returns:
    A scalar tensor of `dtype`.
  """
  if tf.is_tensor(c):
    return tf.cast(c, dtype)
  return tf.constant(c, dtype)


def _dot(x, y):
  """<x, y> over the last axis, keeping it as a size-1 axis."""
  return tf.reduce_sum(x * y, axis=-1, keepdims=True)


def squared_norm(x):
  """||x||^2 over the last axis.

  Args:
    x: [..., n] points or tangent vectors.

  Returns:
    [..., 1] squared Euclidean norms.
  """
  return _dot(x, x)


def safe_norm(x):
  """||x|| over the last axis, floored at sqrt(tiny) so that its gradient is finite at x = 0.

  Args:
    x: [..., n] points or tangent vectors.

  Returns:
    [..., 1] norms, at least sqrt of the dtype's smallest normal number.
  """
  tiny = np.finfo(x.dtype.as_numpy_dtype).tiny
  return tf.sqrt(tf.maximum(squared_norm(x), tiny))


def _artanh(x):
  """artanh(x) for x in [0, 1), with x clipped to 1 - ARTANH_MARGIN so that it stays finite."""
  return tf.math.atanh(tf.minimum(x, 1.0 - ARTANH_MARGIN[x.dtype]))


def conformal_factor(x, *, c):
  """lambda_x^c = 2 / (1 - c ||x||^2), the factor of the Poincare metric g_x = lambda_x^2 I.

  Args:
    x: [..., n] points in the ball.
    c: the curvature magnitude, c > 0.

  Returns:
    [..., 1] conformal factors, 2 at the origin.
  """
  c = as_curvature(c, x.dtype)
  return 2.0 / (1.0 - c * squared_norm(x))


def project(x, *, c):
  """Pulls points back inside the ball: norms above (1 - margin) / sqrt(c) are scaled down to it.

  The margin is BOUNDARY_MARGIN of the dtype (1e-5 in float32), so that the
  result satisfies c ||x||^2 < 1 in that dtype and has a finite conformal factor.

  Args:
    x: [..., n] points, possibly on or outside the boundary.
    c: the curvature magnitude, c > 0.

  Returns:
    [..., n] points strictly inside the ball; points already inside the margin are unchanged.
  """
  c = as_curvature(c, x.dtype)
  max_norm = (1.0 - BOUNDARY_MARGIN[x.dtype]) / tf.sqrt(c)
  norm = safe_norm(x)
  return tf.where(norm > max_norm, x * (max_norm / norm), x)


def mobius_add(x, y, *, c):
  """Mobius addition x (+)_c y (Ganea et al. (2018), eq. 3), the ball's analogue of x + y.

  Args:
    x: [..., n] points in the ball.
    y: [..., n] points in the ball, broadcasting with x.
    c: the curvature magnitude, c > 0.

  Returns:
    [..., n] the Mobius sum; 0 (+) y = y, x (+) 0 = x and (-x) (+) x = 0.
  """
  c = as_curvature(c, x.dtype)
  xy, xx, yy = _dot(x, y), squared_norm(x), squared_norm(y)
  numerator = (1.0 + 2.0 * c * xy + c * yy) * x + (1.0 - c * xx) * y
  denominator = 1.0 + 2.0 * c * xy + c * c * xx * yy
  # The denominator is >= (1 - c ||x|| ||y||)^2 > 0 inside the ball; the floor guards rounding.
  tiny = np.finfo(x.dtype.as_numpy_dtype).tiny
  return numerator / tf.maximum(denominator, tiny)


def gyration(a, b, w, *, c):
  """The gyration gyr[a, b] w = -(a (+) b) (+) (a (+) (b (+) w)), a rotation applied to w.

  gyr[a, b] is linear and orthogonal in w, so w may be any vector of R^n (a
  tangent vector), not only a point of the ball. It is evaluated in the
  closed form that expands the Mobius sums and is linear in w (Ungar (2008)):

    gyr[a, b] w = w + 2 (A a + B b) / D,
    A = -c^2 <a,w> ||b||^2 + c <b,w> + 2 c^2 <a,b> <b,w>,
    B = -c^2 <b,w> ||a||^2 - c <a,w>,
    D = 1 + 2c <a,b> + c^2 ||a||^2 ||b||^2.

  Args:
    a: [..., n] points in the ball.
    b: [..., n] points in the ball.
    w: [..., n] vectors to rotate.
    c: the curvature magnitude, c > 0.

  Returns:
    [..., n] the rotated vectors, of the same norm as w.
  """
  c = as_curvature(c, w.dtype)
  aa, bb, ab = squared_norm(a), squared_norm(b), _dot(a, b)
  aw, bw = _dot(a, w), _dot(b, w)
  coefficient_a = -c * c * aw * bb + c * bw + 2.0 * c * c * ab * bw
  coefficient_b = -c * c * bw * aa - c * aw
  denominator = 1.0 + 2.0 * c * ab + c * c * aa * bb
  tiny = np.finfo(w.dtype.as_numpy_dtype).tiny
  return w + 2.0 * (coefficient_a * a + coefficient_b * b) / tf.maximum(denominator, tiny)


def expmap(base, u, *, c):
  """The exponential map exp_base(u): the end of the geodesic from base with initial velocity u.

  exp_x(u) = x (+) (tanh(sqrt(c) lambda_x ||u|| / 2) u / (sqrt(c) ||u||))
  (Ganea et al. (2018), Lemma 2), projected inside the ball.

  Args:
    base: [..., n] base points x in the ball.
    u: [..., n] tangent vectors at x.
    c: the curvature magnitude, c > 0.

  Returns:
    [..., n] points in the ball, at distance lambda_x ||u|| from x.
  """
  sqrt_c = tf.sqrt(as_curvature(c, u.dtype))
  norm = safe_norm(u)
  step = tf.tanh(sqrt_c * conformal_factor(base, c=c) * norm / 2.0) * u / (sqrt_c * norm)
  return project(mobius_add(base, project(step, c=c), c=c), c=c)


def logmap(base, y, *, c):
  """The logarithmic map log_base(y), the inverse of `expmap`: the tangent vector at base towards y.

  log_x(y) = 2 / (sqrt(c) lambda_x) artanh(sqrt(c) ||k||) k / ||k||, k = (-x) (+) y
  (Ganea et al. (2018), Lemma 2), evaluated without cancellation (module
  docstring): the numerator of k is N = (1 - c||x||^2)(y - x) - c ||y - x||^2 x,
  of norm ||y - x|| sqrt(D), so

    log_x(y) = 2 / (sqrt(c) lambda_x) asinh(sqrt(c) ||y - x|| / s) N / (||y - x|| sqrt(D)),
    s = sqrt((1 - c||x||^2)(1 - c||y||^2)),

  which tends to y - x as y -> x (its gradient there is the identity).

  Args:
    base: [..., n] base points x in the ball.
    y: [..., n] points in the ball.
    c: the curvature magnitude, c > 0.

  Returns:
    [..., n] tangent vectors at x, of Riemannian norm lambda_x ||log_x(y)|| = d(x, y).
  """
  c = as_curvature(c, y.dtype)
  sqrt_c = tf.sqrt(c)
  difference = y - base
  norm = safe_norm(difference)
  base_shrink = 1.0 - c * squared_norm(base)
  shrink = base_shrink * (1.0 - c * squared_norm(y))
  numerator = base_shrink * difference - c * norm**2 * base
  magnitude = (tf.math.asinh(sqrt_c * norm / tf.sqrt(shrink))
               / (norm * tf.sqrt(c * norm**2 + shrink)))
  return 2.0 / (sqrt_c * conformal_factor(base, c=c)) * magnitude * numerator


def expmap0(u, *, c):
  """exp_0(u) = tanh(sqrt(c) ||u||) u / (sqrt(c) ||u||), the exponential map at the origin.

  Args:
    u: [..., n] tangent vectors at the origin.
    c: the curvature magnitude, c > 0.

  Returns:
    [..., n] points in the ball, projected inside it.
  """
  sqrt_c = tf.sqrt(as_curvature(c, u.dtype))
  norm = safe_norm(u)
  return project(tf.tanh(sqrt_c * norm) * u / (sqrt_c * norm), c=c)


def logmap0(y, *, c):
  """log_0(y) = artanh(sqrt(c) ||y||) y / (sqrt(c) ||y||), the inverse of `expmap0`.

  Args:
    y: [..., n] points in the ball.
    c: the curvature magnitude, c > 0.

  Returns:
    [..., n] tangent vectors at the origin.
  """
  sqrt_c = tf.sqrt(as_curvature(c, y.dtype))
  norm = safe_norm(y)
  return _artanh(sqrt_c * norm) * y / (sqrt_c * norm)


def transport_from_origin(mu, v, *, c):
  """Parallel transport from the origin to mu: P_{0->mu}(v) = (lambda_0 / lambda_mu) v.

  Args:
    mu: [..., n] points in the ball.
    v: [..., n] tangent vectors at the origin.
    c: the curvature magnitude, c > 0.

  Returns:
    [..., n] tangent vectors at mu, v scaled by 1 - c ||mu||^2.
  """
  c = as_curvature(c, v.dtype)
  return (1.0 - c * squared_norm(mu)) * v


def transport_to_origin(mu, u, *, c):
  """Parallel transport from mu to the origin, the inverse of `transport_from_origin`.

  Args:
    mu: [..., n] points in the ball.
    u: [..., n] tangent vectors at mu.
    c: the curvature magnitude, c > 0.

  Returns:
    [..., n] tangent vectors at the origin, (lambda_mu / lambda_0) u.
  """
  return conformal_factor(mu, c=c) / 2.0 * u


def parallel_transport(x, y, v, *, c):
  """Parallel transport along the geodesic from x to y (Ganea et al. (2018)).

  P_{x->y}(v) = (lambda_x / lambda_y) gyr[y, -x] v. It is an isometry of the
  metric: <P v, P w>_y = <v, w>_x, with <v, w>_x = lambda_x^2 <v, w>.

  Args:
    x: [..., n] start points in the ball.
    y: [..., n] end points in the ball.
    v: [..., n] tangent vectors at x.
    c: the curvature magnitude, c > 0.

  Returns:
    [..., n] tangent vectors at y.
  """
  scale = conformal_factor(x, c=c) / conformal_factor(y, c=c)
  return scale * gyration(y, -x, v, c=c)


def distance(x, y, *, c):
  """The geodesic distance d_c(x, y) = 2 / sqrt(c) artanh(sqrt(c) ||(-x) (+) y||).

  Evaluated as 2 / sqrt(c) asinh(sqrt(c) ||x - y|| / sqrt((1 - c||x||^2)(1 - c||y||^2))),
  the same function without the cancellation near the boundary (module docstring).

  Args:
    x: [..., n] points in the ball.
    y: [..., n] points in the ball, broadcasting with x.
    c: the curvature magnitude, c > 0.

  Returns:
    [...] distances (the coordinate axis reduced).
  """
  c = as_curvature(c, y.dtype)
  sqrt_c = tf.sqrt(c)
  shrink = (1.0 - c * squared_norm(x)) * (1.0 - c * squared_norm(y))
  ratio = sqrt_c * safe_norm(y - x) / tf.sqrt(shrink)
  return tf.squeeze(2.0 / sqrt_c * tf.math.asinh(ratio), axis=-1)
