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


def hinge_dual(phi_real, phi_fake, C):
    """``(value, w)`` of the hinge-loss problem via its box QP (1.12), maximised by scipy's L-BFGS-B.

    ``max_{0 <= lam <= a} -|Gamma^T lam|^2 / (2C) + sum(lam)``, ``w = Gamma^T lam / C``; by strong duality the
    maximum is ``min_w C/2 |w|^2 + sum_i a_i max(0, 1 - y_i w^T phi_i)``.
    """
    phi_real, phi_fake = np.asarray(phi_real, dtype=np.float64), np.asarray(phi_fake, dtype=np.float64)
    n, m = len(phi_real), len(phi_fake)
    gamma = np.vstack([phi_real, -phi_fake])
    a = np.concatenate([np.full(n, 1.0 / n), np.full(m, 1.0 / m)])

    def neg(lam):
        v = gamma.T @ lam
        return v @ v / (2 * C) - lam.sum(), gamma @ v / C - 1.0

    res = scipy.optimize.minimize(neg, a / 2, jac=True, method="L-BFGS-B", bounds=list(zip(np.zeros_like(a), a)),
                                  options={"ftol": 1e-13, "gtol": 1e-10, "maxiter": 2000})
    lam = res.x
    # polish on the active set L-BFGS-B found: lam = a on U, 0 on Z, free on the margin set M, where
    # C w = Gamma_U^T a_U + Gamma_M^T lam_M and Gamma_M w = 1 (the KKT system, solved exactly)
    tol = 1e-7 * a
    upper, free = lam >= a - tol, (lam > tol) & (lam < a - tol)
    d, k = gamma.shape[1], int(free.sum())
    kkt = np.block([[C * np.eye(d), -gamma[free].T], [gamma[free], np.zeros((k, k))]])
    rhs = np.concatenate([gamma[upper].T @ a[upper], np.ones(k)])
    sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    lam = np.where(upper, a, 0.0)
    lam[free] = sol[d:]
    w = gamma.T @ lam / C
    primal = 0.5 * C * w @ w + a @ np.maximum(0.0, 1.0 - gamma @ w)
    dual = -0.5 * C * w @ w + lam.sum()
    if not (np.all(lam >= -1e-12) and np.all(lam <= a + 1e-12) and primal - dual <= 1e-13 * max(1.0, abs(primal))):
        raise RuntimeError(f"reference hinge solve: duality gap {primal - dual:.3g} after polishing")
    return float(primal), w
