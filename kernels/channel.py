"""Marches along the electrolyte path of the 1D channel model (``ecmsim.channel``).

Path contract
-------------
n cells in flow order, every per-cell array float64 of shape ``(n,)`` and every
per-face array of shape ``(n + 1,)`` (face 0 the inlet, face n the outlet); SI
units throughout (m, m², Pa, K, mol/s, m³/s, W).

``march_temperature(length, perimeter, joule, n_mid, p_mid, q_l, t_in, cap, k_ref,
a_t, t_ref, exponent, wall_h, temp, void)``: forward from ``temp[0] = t_in``,

    cap dT/ds = κ(T, α) G′ − U P (T − t_in),   κ = k_ref max(1 + a_t (T − t_ref), 0) (1 − α)^exponent,

with ``cap = ρ c_p Q_l`` (W/K), ``G′ = joule[k]/length[k]`` (``joule``: ∫|∇φ|² dV of the
cell, V²·m), ``U = wall_h`` (W/(m²·K)), ``P = perimeter[k]``, and α frozen over the cell
at ``n_mid R T_k/p_mid / (that + q_l)``.  The right-hand side is then linear in T, so
each cell is integrated exactly: T_{k+1} = T_k + rate L expm1(x)/x, x = slope L (capped at
50).  Writes ``temp`` (n + 1) and ``void`` (n).

``march_pressure(length, area, dh, resistance, entry_loss, exit_loss, mu, temp, n_faces,
q_l, rho, p_out, p, re)``: backward from the outlet, ``p[n] = p_out + exit_loss ρ_m u_m²/2``
and ``p[k] = p[k+1] + Δp_k`` with, for the homogeneous mixture of ``q_l`` and
``Q_g = n R T/p`` at the cell's mean state,

    Δp_k = max(μ R (Q_l + Q_g) L, [Re > 2300] 0.316 Re^−0.25 L/D_h ρ_m u_m²/2) + K_k ρ_m u_m²/2,

ρ_m u_m² = ρ Q_l (Q_l + Q_g)/A², Re = ρ Q_l D_h/(A μ) (the mass flux is the liquid's, so Re
does not depend on α); the cell's mean pressure is found by three fixed-point passes.
Writes ``p`` (n + 1) and ``re`` (n).

``march_profile(length, perimeter, area, dh, resistance, entry_loss, exit_loss, joule,
n_faces, q_l, t_in, rho, cap, k_ref, a_t, t_ref, exponent, wall_h, mu_scale, p_out,
max_iterations, p, temp, void, re) -> iterations``: the two marches iterated to a fixed
point where gas couples them, starting from ``p = p_out`` everywhere: temperature at the
cells' mean pressures, viscosity μ = ``mu_scale`` · 2.414e-5 · 10^(247.8/(T − 140)) at the
cells' mean temperatures (Vogel's law for water scaled to the electrolyte), pressure;
stop when the largest pressure change is below 1e-12 of the largest pressure (or at
once without gas), then march the temperature once more at the final pressures.
Writes ``p``, ``temp`` (n + 1), ``void``, ``re`` (n); returns the iterations taken.
"""

import math

import numpy as np
from numba import njit

#: Molar gas constant, J/(mol·K).
R_GAS = 8.314462618
#: Reynolds number above which Blasius friction may apply.
RE_CRITICAL = 2300.0


@njit(cache=True)
def march_temperature(
    length, perimeter, joule, n_mid, p_mid, q_l, t_in, cap, k_ref, a_t, t_ref, exponent, wall_h, temp, void
):
    """Temperatures at the faces and void fraction per cell, marched from the inlet (see module docstring)."""
    n = length.size
    temp[0] = t_in
    for k in range(n):
        t = temp[k]
        q_g = n_mid[k] * R_GAS * t / p_mid[k]
        a = q_g / (q_g + q_l)
        void[k] = a
        gas = (1.0 - a) ** exponent
        g = joule[k] / length[k]
        loss = wall_h * perimeter[k]
        slope = (k_ref * a_t * gas * g - loss) / cap
        rate = (k_ref * max(1.0 + a_t * (t - t_ref), 0.0) * gas * g - loss * (t - t_in)) / cap
        x = min(slope * length[k], 50.0)
        if abs(x) > 1e-12:
            factor = math.expm1(x) / x
        else:
            factor = 1.0 + 0.5 * x
        temp[k + 1] = t + rate * length[k] * factor


@njit(cache=True)
def _drop(length, area, dh, resistance, entry_loss, mu, q_l, q_g, rho):
    momentum = rho * q_l * (q_l + q_g) / (area * area)
    re = rho * q_l * dh / (area * mu)
    drop = mu * resistance * (q_l + q_g) * length
    if re > RE_CRITICAL:
        drop = max(drop, 0.316 * re**-0.25 * length / dh * 0.5 * momentum)
    return drop + entry_loss * 0.5 * momentum, re


@njit(cache=True)
def march_pressure(length, area, dh, resistance, entry_loss, exit_loss, mu, temp, n_faces, q_l, rho, p_out, p, re):
    """Pressures at the faces and Reynolds number per cell, marched upstream from the outlet (see module docstring)."""
    n = length.size
    q_g_exit = n_faces[n] * R_GAS * temp[n] / p_out
    p[n] = p_out + exit_loss * 0.5 * rho * q_l * (q_l + q_g_exit) / (area[n - 1] * area[n - 1])
    for k in range(n - 1, -1, -1):
        t_mid = 0.5 * (temp[k] + temp[k + 1])
        n_mid = 0.5 * (n_faces[k] + n_faces[k + 1])
        guess = p[k + 1]
        for _ in range(3):
            p_mid = 0.5 * (guess + p[k + 1])
            q_g = n_mid * R_GAS * t_mid / p_mid
            drop, re[k] = _drop(length[k], area[k], dh[k], resistance[k], entry_loss[k], mu[k], q_l, q_g, rho)
            guess = p[k + 1] + drop
        p[k] = guess


@njit(cache=True)
def march_profile(
    length, perimeter, area, dh, resistance, entry_loss, exit_loss, joule, n_faces, q_l, t_in, rho, cap,
    k_ref, a_t, t_ref, exponent, wall_h, mu_scale, p_out, max_iterations, p, temp, void, re,
):  # fmt: skip
    """Temperature, void and pressure along the path at their fixed point (see module docstring)."""
    n = length.size
    n_mid = np.empty(n)
    p_mid = np.empty(n)
    mu = np.empty(n)
    p_new = np.empty(n + 1)
    for k in range(n):
        n_mid[k] = 0.5 * (n_faces[k] + n_faces[k + 1])
    for k in range(n + 1):
        p[k] = p_out
    iterations = 0
    for _ in range(max_iterations):
        iterations += 1
        for k in range(n):
            p_mid[k] = 0.5 * (p[k] + p[k + 1])
        march_temperature(
            length, perimeter, joule, n_mid, p_mid, q_l, t_in, cap, k_ref, a_t, t_ref, exponent, wall_h, temp, void
        )
        for k in range(n):
            mu[k] = mu_scale * 2.414e-5 * 10.0 ** (247.8 / (0.5 * (temp[k] + temp[k + 1]) - 140.0))
        march_pressure(
            length, area, dh, resistance, entry_loss, exit_loss, mu, temp, n_faces, q_l, rho, p_out, p_new, re
        )
        change = 0.0
        top = 0.0
        for k in range(n + 1):
            change = max(change, abs(p_new[k] - p[k]))
            top = max(top, p_new[k])
            p[k] = p_new[k]
        if n_faces[n] == 0.0 or change / top < 1e-12:
            break
    for k in range(n):
        p_mid[k] = 0.5 * (p[k] + p[k + 1])
    march_temperature(
        length, perimeter, joule, n_mid, p_mid, q_l, t_in, cap, k_ref, a_t, t_ref, exponent, wall_h, temp, void
    )
    return iterations
