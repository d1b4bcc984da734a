"""Independent references shared by tests: written out in numpy/scipy, no dualgan code.

:func:`logistic_primal` solves problem (1.1) of the theory page without bias,
``min_w C/2 |w|^2 + sum_i a_i log(1 + exp(-y_i w^T phi_i))`` with
``a_i = 1/n`` (real, ``y = +1``) and ``1/m`` (generated, ``y = -1``), by
scipy's exact trust-region Newton method with the gradient and Hessian written
here. By strong duality (eq. (1.4)) its minimum is the dual GAN's objective
``g(theta)`` (eq. (1.13)).
"""
import numpy as np
import scipy.optimize
import scipy.special


def logistic_primal(phi_real, phi_fake, C):
    """``(value, w)`` of the minimised primal (1.1) (float64 numpy; raises if scipy does not converge)."""
    phi_real, phi_fake = np.asarray(phi_real, dtype=np.float64), np.asarray(phi_fake, dtype=np.float64)
    n, m = len(phi_real), len(phi_fake)
    gamma = np.vstack([phi_real, -phi_fake])                  # rows y_i phi_i
    a = np.concatenate([np.full(n, 1.0 / n), np.full(m, 1.0 / m)])

    def value(w):
        return 0.5 * C * w @ w + a @ np.logaddexp(0.0, -(gamma @ w))

    def grad(w):
        return C * w - gamma.T @ (a * scipy.special.expit(-(gamma @ w)))

    def hess(w):
        s = scipy.special.expit(gamma @ w)
        return C * np.eye(len(w)) + gamma.T @ (gamma * (a * s * (1.0 - s))[:, None])

    w = np.zeros(gamma.shape[1])
    for _ in range(100):            # damped Newton (scipy's line search), then polished to a zero gradient
        res = scipy.optimize.minimize(value, w, jac=grad, hess=hess, method="trust-exact",
                                      options={"gtol": 1e-13, "maxiter": 500})
        w = res.x
        if np.linalg.norm(grad(w)) <= 1e-12 * max(1.0, C * np.linalg.norm(w)):
            break
    step = np.linalg.solve(hess(w), grad(w))   # one plain Newton step: quadratic convergence at the optimum
    w = w - step
    if not np.linalg.norm(grad(w)) <= 1e-11 * max(1.0, C * np.linalg.norm(w)):
        raise RuntimeError(f"reference primal solve did not converge: |grad| = {np.linalg.norm(grad(w)):.3g}")
    return float(value(w)), w
