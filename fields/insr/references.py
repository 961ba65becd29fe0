r"""Classical references the INSR solutions are compared with: exact solutions and grid solvers.

- :func:`semi_lagrangian_advection`: the grid solver of the paper's advection comparison --
  trace each node back along the constant velocity, :math:`u^{n+1}_i = u^n(x_i - \mathbf a
  \Delta t)`, interpolated linearly (``order=1``, first order in :math:`\Delta x^2/\Delta t`,
  numerically diffusive) or by cubic splines (``order=3``) with :func:`scipy.ndimage.map_coordinates`;
  unconditionally stable, so it runs at the INSR time step whatever the grid spacing.
- :func:`midpoint_advection`: the grid solver with INSR's own time integrator -- central finite
  differences (second or fourth order) in space, the implicit midpoint rule (Crank–Nicolson) in
  time; non-dissipative and unconditionally stable, its error is dispersion.
- :func:`taylor_green`: the exact Taylor–Green vortex on :math:`[0, 2\pi]^2` (a steady solution
  of the incompressible Euler equations, decaying as :math:`e^{-2\nu t}` with viscosity).
- :func:`fem_elastodynamics`: linear elastodynamics on the elasticity problem's own mesh
  (scikit-fem, P1 or P2 Lagrange elements), stepped by implicit Euler with the same time step
  as INSR -- the small-strain limit of the INSR incremental potential.

The pseudo-spectral 2D Navier–Stokes solver of :mod:`sciml.datasets.navier_stokes` (vorticity
form) is the grid reference of the Euler problems; :mod:`sciml.workflows.insr` calls it.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage
import scipy.sparse
import scipy.sparse.linalg

from sciml.grid import Grid

__all__ = ["fem_elastodynamics", "midpoint_advection", "semi_lagrangian_advection", "taylor_green"]


def semi_lagrangian_advection(u0: np.ndarray, grid: Grid, velocity, dt: float, steps: int, order: int = 1,
                              every: int | None = None) -> np.ndarray:
    r"""Advect nodal values ``u0`` by a constant velocity with the semi-Lagrangian method.

    .. math::

       u^{n+1}(x_i) = \mathcal I[u^n](x_i - \mathbf a\,\Delta t)

    with :math:`\mathcal I` the linear (``order=1``) or cubic-spline (``order=3``) interpolant;
    periodic axes wrap, the other boundaries bring in zeros (inflow of :math:`u = 0`).

    Parameters
    ----------
    u0 : array ``grid.shape``
        Initial values at the grid nodes.
    grid : Grid
        Uniform node-centred grid (``Grid.uniform``).
    velocity : sequence of float ``[d]``
    dt : float
    steps : int
    order : {1, 3}
        Interpolation order.
    every : int, optional
        Also return the states every this many steps.

    Returns
    -------
    array ``grid.shape`` (final state) or ``[steps // every + 1, *grid.shape]`` with ``every``.

    Examples
    --------
    A whole number of cells per step is an exact shift:

    >>> from sciml import Domain
    >>> g = Grid.uniform((8,), Domain(((0.0, 8.0),), periodic=True))
    >>> semi_lagrangian_advection(np.eye(8)[0], g, [1.0], 1.0, 3).tolist()
    [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    """
    u, a, periodic = _check_advection(u0, grid, velocity, steps)
    if order not in (1, 3):
        raise ValueError(f"order: expected 1 or 3, got {order!r}")
    # departure points in index space: i - a dt / h per axis
    shift = [a[k] * dt / grid.spacing[k] for k in range(grid.ndim)]
    index = np.meshgrid(*[np.arange(n, dtype=float) for n in grid.shape], indexing="ij")
    departure = np.stack([index[k] - shift[k] for k in range(grid.ndim)])
    mode = "grid-wrap" if all(periodic) else "constant"
    return _march(lambda v: scipy.ndimage.map_coordinates(v, departure, order=order, mode=mode, cval=0.0,
                                                          prefilter=order > 1),
                  u, steps, every, "semi_lagrangian_advection")


def _check_advection(u0, grid, velocity, steps) -> tuple[np.ndarray, np.ndarray, tuple[bool, ...]]:
    """Checks shared by the grid advection solvers: ``(u0 as float array, velocity [d], periodic)``."""
    if not isinstance(grid, Grid) or any(k != "node" for k in grid.kinds):
        raise TypeError(f"grid: expected a uniform node-centred sciml.Grid, got {grid!r}")
    u = np.asarray(u0, dtype=float)
    if u.shape != grid.shape:
        raise ValueError(f"u0: expected shape {grid.shape} (the grid's), got {u.shape}")
    a = np.asarray(velocity, dtype=float).reshape(-1)
    if a.size != grid.ndim:
        raise ValueError(f"velocity: expected {grid.ndim} components, got {a.size}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps: expected an int >= 0, got {steps!r}")
    periodic = tuple(grid.domain.periodic)
    if any(periodic) and not all(periodic):
        raise ValueError("grid: mixed periodic and bounded axes are not supported")
    return u, a, periodic


def _march(step, u: np.ndarray, steps: int, every: int | None, solver: str) -> np.ndarray:
    """Apply ``step`` ``steps`` times; the final state, or every ``every``-th one stacked (with ``u``).

    A non-finite state raises, naming ``solver`` and the step.
    """
    frames = [u]
    for n in range(steps):
        u = step(u)
        if not np.isfinite(u).all():
            raise FloatingPointError(f"{solver}: non-finite values at step {n + 1}")
        if every and (n + 1) % every == 0:
            frames.append(u)
    return np.stack(frames) if every else u


def _central_difference(n: int, spacing: float, order: int, periodic: bool) -> scipy.sparse.csr_matrix:
    """First-derivative matrix ``[n, n]`` of central differences of ``order`` 2 or 4 on ``n`` nodes.

    Periodic: the node ``n - 1`` is the last one before the wrap (``Grid.uniform`` on a periodic
    domain leaves the endpoint out). Bounded: values outside the grid are zero (inflow of
    :math:`u = 0`), the same boundary data as :func:`semi_lagrangian_advection`.
    """
    stencil = {2: {1: 1 / 2}, 4: {1: 2 / 3, 2: -1 / 12}}[order]
    rows, cols, vals = [], [], []
    index = np.arange(n)
    for offset, c in stencil.items():
        for sign in (1, -1):
            j = index + sign * offset
            keep = np.ones(n, bool) if periodic else (j >= 0) & (j < n)
            rows.append(index[keep])
            cols.append(j[keep] % n)
            vals.append(np.full(keep.sum(), sign * c / spacing))
    return scipy.sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                   shape=(n, n))


def midpoint_advection(u0: np.ndarray, grid: Grid, velocity, dt: float, steps: int, order: int = 2,
                       every: int | None = None) -> np.ndarray:
    r"""Advect nodal values ``u0`` by a constant velocity: central differences, implicit midpoint rule.

    .. math::

       \frac{u^{n+1} - u^n}{\Delta t} + \mathbf a \cdot D\, \frac{u^{n+1} + u^n}{2} = 0,

    with :math:`D` the central first-derivative stencils of ``order`` 2 or 4 along each axis
    (a Kronecker sum in 2D and 3D). This is the time integrator of INSR's advection problem
    (:class:`~sciml.fields.insr.Advection`), so the two differ only in the spatial
    representation. :math:`D` is skew-symmetric on periodic grids: the scheme conserves the
    discrete :math:`L^2` norm exactly, is unconditionally stable, and errs by dispersion only
    (a Fourier mode :math:`e^{ikx}` turns by :math:`2\arctan(\theta/2)` a step instead of
    :math:`a k \Delta t`, :math:`\theta = a \Delta t\, \hat D(k)`). Periodic axes wrap; on
    bounded axes the values outside the grid are zero (inflow of :math:`u = 0`). One sparse LU
    factorisation serves every step.

    Parameters and return value as :func:`semi_lagrangian_advection`, except ``order`` : {2, 4},
    the order of the central differences.

    Examples
    --------
    One Fourier mode turns by exactly :math:`2\arctan(\theta/2)` per step, with
    :math:`\theta = a \Delta t \sin(kh)/h` for the second-order stencil:

    >>> from sciml import Domain
    >>> g = Grid.uniform((16,), Domain(((0.0, 1.0),), periodic=True))
    >>> x = np.arange(16) / 16
    >>> u = midpoint_advection(np.cos(2 * np.pi * x), g, [1.0], 0.1, 1)
    >>> theta = 0.1 * np.sin(2 * np.pi / 16) * 16
    >>> bool(np.allclose(u, np.cos(2 * np.pi * x - 2 * np.arctan(theta / 2))))
    True
    """
    u, a, periodic = _check_advection(u0, grid, velocity, steps)
    if order not in (2, 4):
        raise ValueError(f"order: expected 2 or 4, got {order!r}")
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt: expected a positive finite number, got {dt!r}")
    shape = grid.shape
    operator = scipy.sparse.csr_matrix((u.size, u.size))
    for axis, n in enumerate(shape):
        if a[axis] == 0.0:
            continue
        factors = [scipy.sparse.identity(m, format="csr") for m in shape]
        factors[axis] = _central_difference(n, grid.spacing[axis], order, periodic[axis])
        term = factors[0]
        for f in factors[1:]:
            term = scipy.sparse.kron(term, f, format="csr")
        operator = operator + a[axis] * term
    identity = scipy.sparse.identity(u.size, format="csc")
    explicit = (identity - 0.5 * dt * operator).tocsr()
    implicit = scipy.sparse.linalg.splu((identity + 0.5 * dt * operator).tocsc())
    return _march(lambda v: implicit.solve(explicit @ v.reshape(-1)).reshape(shape), u, steps, every,
                  "midpoint_advection")


def taylor_green(points: np.ndarray, t: float = 0.0, viscosity: float = 0.0) -> dict:
    r"""The Taylor–Green vortex on the periodic box :math:`[0, 2\pi]^2`, exactly.

    .. math::

       \mathbf u = e^{-2\nu t} (\sin x \cos y,\ -\cos x \sin y), \quad
       p = \tfrac14 e^{-4\nu t} (\cos 2x + \cos 2y), \quad
       \omega = \partial_x v - \partial_y u = 2 e^{-2\nu t} \sin x \sin y,

    with kinetic energy :math:`\tfrac12\int|\mathbf u|^2 = \pi^2 e^{-4\nu t}`.

    Parameters
    ----------
    points : array ``[n, 2]``
    t : float
    viscosity : float
        :math:`\nu \ge 0` (0: the steady Euler solution).

    Returns
    -------
    dict with ``velocity`` ``[n, 2]``, ``pressure`` ``[n, 1]``, ``vorticity`` ``[n, 1]``,
    ``kinetic_energy`` (float, the exact integral).

    Examples
    --------
    >>> sol = taylor_green(np.array([[np.pi / 2, 0.0]]))
    >>> sol["velocity"].tolist(), sol["kinetic_energy"] == np.pi**2
    ([[1.0, -0.0]], True)
    """
    x = np.asarray(points, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"points: expected shape [n, 2], got {x.shape}")
    if not viscosity >= 0:
        raise ValueError(f"viscosity: expected a number >= 0, got {viscosity!r}")
    decay = math.exp(-2 * viscosity * t)
    sx, cx, sy, cy = np.sin(x[:, 0]), np.cos(x[:, 0]), np.sin(x[:, 1]), np.cos(x[:, 1])
    return {
        "velocity": decay * np.stack([sx * cy, -cx * sy], -1),
        "pressure": 0.25 * decay**2 * (np.cos(2 * x[:, :1]) + np.cos(2 * x[:, 1:])),
        "vorticity": 2 * decay * (sx * sy)[:, None],
        "kinetic_energy": math.pi**2 * decay**2,
    }


def fem_elastodynamics(problem, dt: float, steps: int, probes: np.ndarray, order: int = 2) -> dict:
    r"""Implicit-Euler linear elastodynamics of an :class:`~sciml.fields.insr.Elasticity` problem by FEM.

    On the problem's mesh (triangles or tetrahedra) with vector Lagrange elements of ``order``
    (scikit-fem), from rest (:math:`u_0 = u_{-1} = 0`):

    .. math::

       M \frac{u_{n+1} - 2u_n + u_{n-1}}{\Delta t^2} + K u_{n+1} = f, \qquad
       K: \int 2\mu\,\varepsilon(u):\varepsilon(v) + \lambda\,\nabla\cdot u\,\nabla\cdot v, \quad
       f: \int \rho\,\mathbf g\cdot v,

    i.e. the minimiser of the INSR incremental potential with the stored energy linearised
    (neo-Hookean and ARAP both reduce to it at small strain). Degrees of freedom at points where
    ``problem.fixed`` holds are clamped to zero (the INSR problem pins the mesh vertices there).

    Energies: kinetic :math:`\tfrac12 v^\top M v` with :math:`v_{n+1} = (u_{n+1} - u_n)/\Delta t`,
    elastic :math:`\tfrac12 u^\top K u`, gravitational :math:`-f^\top u`; their sum is
    non-increasing (implicit Euler dissipates: :math:`H_{n+1} - H_n = -\tfrac12 |v_{n+1} - v_n|_M^2
    - \tfrac12 |u_{n+1} - u_n|_K^2`).

    Parameters
    ----------
    problem : Elasticity
    dt : float
    steps : int
    probes : array ``[m, d]``
        Points (inside the mesh) where the displacement is returned.
    order : {1, 2}
        Polynomial order of the elements.

    Returns
    -------
    dict
        ``displacement`` ``[steps + 1, m, d]`` at ``probes``; ``kinetic``, ``elastic``,
        ``gravity``, ``total`` ``[steps + 1]``; ``dof`` (unknowns after clamping); ``seconds``.

    Raises
    ------
    ImportError
        When scikit-fem is not installed (``pip install scikit-fem``).
    """
    try:
        import skfem
        from skfem.helpers import ddot, sym_grad, trace
    except ImportError as exc:  # optional: only the elasticity reference needs it
        raise ImportError("fem_elastodynamics needs scikit-fem: pip install scikit-fem") from exc
    import time

    if order not in (1, 2):
        raise ValueError(f"order: expected 1 or 2, got {order!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps: expected an int >= 0, got {steps!r}")
    if not dt > 0:
        raise ValueError(f"dt: expected a number > 0, got {dt!r}")
    d = problem.mesh.ndim
    probes = np.asarray(probes, dtype=float)
    if probes.ndim != 2 or probes.shape[1] != d:
        raise ValueError(f"probes: expected shape [m, {d}], got {probes.shape}")
    start = time.perf_counter()
    mesh_type, element = ((skfem.MeshTri, (skfem.ElementTriP1, skfem.ElementTriP2)) if d == 2 else
                          (skfem.MeshTet, (skfem.ElementTetP1, skfem.ElementTetP2)))
    mesh = mesh_type(problem.mesh.points().numpy().T.astype(float), problem.mesh.simplices().T.copy())
    basis = skfem.Basis(mesh, skfem.ElementVector(element[order - 1]()), intorder=2 * order)
    mu, lam, rho, g = problem.mu, problem.lam, problem.density, problem.gravity.numpy()

    @skfem.BilinearForm
    def stiffness_form(u, v, w):
        return 2 * mu * ddot(sym_grad(u), sym_grad(v)) + lam * trace(sym_grad(u)) * trace(sym_grad(v))

    @skfem.BilinearForm
    def mass_form(u, v, w):
        return rho * sum(u[i] * v[i] for i in range(d))

    @skfem.LinearForm
    def load_form(v, w):
        return rho * sum(g[i] * v[i] for i in range(d))

    K, M, f = skfem.asm(stiffness_form, basis), skfem.asm(mass_form, basis), skfem.asm(load_form, basis)
    fixed = np.nonzero(problem.fixed_mask(basis.doflocs.T))[0]
    free = np.setdiff1d(np.arange(basis.N), fixed)
    system = (M / dt**2 + K)[free][:, free].tocsc()
    import scipy.sparse.linalg

    solve = scipy.sparse.linalg.factorized(system)
    P = basis.probes(probes.T)  # [d * m, N]: component-major
    u_prev, u = np.zeros(basis.N), np.zeros(basis.N)
    out = {key: [] for key in ("displacement", "kinetic", "elastic", "gravity", "total")}

    def record(u, v):
        energy = {"kinetic": 0.5 * v @ (M @ v), "elastic": 0.5 * u @ (K @ u), "gravity": -f @ u}
        energy["total"] = sum(energy.values())
        for key, value in energy.items():
            out[key].append(float(value))
        out["displacement"].append((P @ u).reshape(d, -1).T)

    record(u, np.zeros_like(u))
    for _ in range(steps):
        rhs = f + M @ (2 * u - u_prev) / dt**2
        u_next = np.zeros_like(u)
        u_next[free] = solve(rhs[free])
        u_prev, u = u, u_next
        record(u, (u - u_prev) / dt)
    result = {key: np.asarray(value) for key, value in out.items()}
    result["dof"] = int(free.size)
    result["seconds"] = time.perf_counter() - start
    return result
