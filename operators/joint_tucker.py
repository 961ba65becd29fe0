r"""Joint Tucker factorization of all layers' spectral weights (MG-TFNO, Kossaifi et al., 2023).

The weights of the ``L`` Fourier layers are one tensor
:math:`\mathcal W \in \mathbb C^{L \times I \times O \times K_1 \cdots K_d}` (layers as an extra
mode), factorized once in Tucker form

.. math::
    \mathcal W = \mathcal G \times_0 \Lambda \times_1 U \times_2 V \times_3 X_1 \cdots \times_{d+2} X_d,
    \qquad
    W^{(\ell)} = \big(\mathcal G \times_0 \Lambda_{\ell,:}\big) \times_1 U \times_2 V \times_3 X_1 \cdots,

so layer :math:`\ell` is a Tucker tensor whose core is the shared core contracted with row
:math:`\ell` of the layer factor :math:`\Lambda \in \mathbb C^{L \times R_L}`, and whose factors
:math:`U, V, X_j` are shared by all layers. The contraction of layer :math:`\ell` with a retained
block :math:`\hat x` goes through the factors, with the real-arithmetic Tucker contraction of
:class:`sciml.kernels.TuckerSpectralWeight` (both are
:class:`~sciml.kernels.factorized.TuckerWeightBase` s):

.. math::
    \hat y_{b,o,\mathbf k} = \sum_{c} V_{oc} \sum_a \Big(\sum_{\mathbf p} G^{(\ell)}_{ac\mathbf p}
        \prod_j X_{j,k_j p_j}\Big) \sum_i U_{ia}\, \hat x_{b,i,\mathbf k}.

All parameters are complex, stored as real pairs (trailing 2). :class:`JointTucker` owns them;
:meth:`JointTucker.layer` returns a :class:`JointTuckerLayer` -- a
:class:`sciml.kernels.SpectralWeight` view that a :class:`sciml.kernels.SpectralConv` uses as
its weight without owning any parameter.

Examples
--------
>>> joint = JointTucker(n_layers=4, in_channels=8, out_channels=8, block=(8, 4), rank=0.2)
>>> joint.layer(2).to_dense().shape
torch.Size([8, 8, 8, 4])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import tensorly as tl
import torch
from tensorly.decomposition import tucker
from torch import nn

from sciml.kernels.factorized import TuckerWeightBase, complex_tensordot, init_tucker_, real_pairs

from .factorization import resolve_rank, thin_svd

__all__ = ["JointTucker", "JointTuckerLayer", "lowest_frequencies"]

#: values of ``JointTucker(init=...)``
INITS = ("random", "lowest-frequencies", "decompose", "none")
_BLOCK_LETTERS = "xyz"
_RANK_LETTERS = "pqs"


class JointTucker(nn.Module):
    """Tucker factors of the stacked spectral weights ``[L, in, out, *block]`` of all layers.

    Parameters
    ----------
    n_layers, in_channels, out_channels : int
    block : sequence of int
        Retained block ``(2 m_0, ..., m_{d-1})``.
    rank : float, int or tuple of int
        Float: fraction of the dense parameters of all layers together; int: one rank for every
        mode (capped by the mode sizes); tuple: ``(R_L, R_in, R_out, *R_block)``.
    dtype : torch.float32 or torch.float64
    init : {"random", "lowest-frequencies", "decompose", "none"}
        ``"random"`` draws the factors directly (:meth:`init_random`: orthonormal factors, the
        layer factor with equal row norms, and a scaled core), so all layers together have
        entries of mean square ``2 / (in + out)``, like dense layers, and each layer about that,
        without forming the dense tensor. ``"lowest-frequencies"``
        (:meth:`init_lowest_frequencies`) makes the frequency factors select the ``R_j`` lowest
        frequencies of their axis instead, so each layer starts as a dense layer on those
        frequencies. ``"decompose"`` draws dense weights and fits them with tensorly's ``tucker``
        (the former initialisation, far slower for large layers); ``"none"`` leaves zeros
        (weights loaded from a checkpoint or :meth:`fit` next).

    Attributes
    ----------
    core : Parameter ``[R_L, R_in, R_out, *R_block, 2]``
    factors : ParameterList of ``[n, R, 2]`` for the modes ``(layer, in, out, *block)``
    """

    def __init__(self, n_layers: int, in_channels: int, out_channels: int, block: Sequence[int], rank,
                 dtype: torch.dtype = torch.float32, init: str = "random"):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init: expected one of {INITS}, got {init!r}")
        self.shape = (int(n_layers), int(in_channels), int(out_channels), *(int(k) for k in block))
        self.ranks = resolve_rank("tucker", self.shape, rank)
        self.core = nn.Parameter(torch.zeros(*self.ranks, 2, dtype=dtype))
        self.factors = nn.ParameterList([nn.Parameter(torch.zeros(n, r, 2, dtype=dtype))
                                         for n, r in zip(self.shape, self.ranks)])
        if init == "random":
            self.init_random()
        elif init == "lowest-frequencies":
            self.init_lowest_frequencies()
        elif init == "decompose":
            self.fit(None, match_norm=True)

    def init_random(self) -> JointTucker:
        """Draw the factors (:func:`sciml.kernels.factorized.init_tucker_`): dense layers' mean square.

        Orthonormal (Haar-random) factors, the layer factor with orthonormal columns and equal
        row norms (every layer gets about the same share of the core), and an i.i.d. core
        rescaled so the rebuilt tensor has mean square exactly ``2 / (in + out)``.
        """
        init_tucker_(self.core, list(self.factors), self.init_std, balanced_modes=(0,))
        return self

    def init_lowest_frequencies(self) -> JointTucker:
        r"""Draw the factors so each layer starts as a dense spectral weight on the lowest frequencies.

        The layer, input and output factors are those of :meth:`init_random`. The factor
        :math:`X_j` of block axis :math:`j` selects the :math:`R_j` frequencies of least
        :math:`|k|` (:func:`lowest_frequencies`: columns of the identity), and the core is
        scaled so the rebuilt tensor has mean square exactly :math:`\sigma^2 = 2 / (I + O)`
        over the retained frequencies :math:`S_1 \times \dots \times S_d` and is zero
        elsewhere: a dense layer at fewer modes, up to the rank of the channel and layer factors.

        Every core entry is then tied to one frequency, so Adam's per-coordinate step sizes act
        per frequency as on a dense FNO weight; Haar-random frequency factors mix them. On the
        ``sciml bench navier-stokes --quick`` data (5 epochs) it trained faster: at full joint
        rank, width 24, rel L2 2.27e-2 against 2.86e-2 with :meth:`init_random` (FNO 2.17e-2);
        at rank 0.05 (no patching), 4.28e-2 / 3.58e-2 against 5.12e-2 / 4.70e-2 (seeds 0 / 1).
        It is not better everywhere: on a small linear smoothing problem (48 samples, 40 epochs,
        one multigrid level) it was worse on 5 of 6 seeds (mean rel L2 0.087 against 0.054), so it
        is not the default.
        """
        self.init_random()
        with torch.no_grad():
            for axis, factor in enumerate(self.factors[3:]):
                last = axis == len(self.block) - 1
                kept = lowest_frequencies(factor.shape[0], factor.shape[1], last)
                factor.zero_()
                factor[kept, torch.arange(len(kept)), 0] = 1.0
            # orthonormal factors: ||W|| = ||G|| = sqrt(prod(shape)) std before the selection
            self.core.mul_(math.sqrt(math.prod(r / n for n, r in zip(self.block, self.ranks[3:]))))
        return self

    @property
    def init_std(self) -> float:
        """Entry scale of dense layers, ``sqrt(2 / (in + out))``."""
        return math.sqrt(2.0 / (self.shape[1] + self.shape[2]))

    @property
    def n_layers(self) -> int:
        return self.shape[0]

    @property
    def block(self) -> tuple[int, ...]:
        return self.shape[3:]

    def fit(self, dense: torch.Tensor | None, match_norm: bool = False, n_iter_max: int = 1) -> JointTucker:
        """Set the factors to tensorly's Tucker decomposition of ``dense`` ``[L, in, out, *block]``.

        Parameters
        ----------
        dense : complex tensor ``[L, in, out, *block]`` or None
            ``None`` draws random dense weights like dense layers' (``init="decompose"``).
        match_norm : bool
            Rescale the core so the reconstruction has the Frobenius norm of ``dense``.
        n_iter_max : int
            HOOI iterations after the HOSVD initialisation.
        """
        real = self.core.dtype
        if dense is None:
            std = self.init_std
            complex_dtype = torch.complex128 if real == torch.float64 else torch.complex64
            dense = torch.randn(*self.shape, dtype=complex_dtype) * std
        if tuple(dense.shape) != self.shape or not dense.is_complex():
            raise ValueError(f"dense: expected a complex tensor of shape {self.shape}, got "
                             f"{dense.dtype} {tuple(dense.shape)}")
        dense = dense.detach().cpu()
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
        with tl.backend_context("pytorch"):
            core, factors = tucker(dense, rank=list(self.ranks), init="svd", svd=thin_svd, n_iter_max=n_iter_max,
                                   random_state=seed)
            scale = 1.0
            if match_norm:
                rebuilt = float(tl.norm(tl.tucker_to_tensor((core, factors))))
                scale = float(torch.linalg.vector_norm(dense)) / rebuilt if rebuilt > 0 else 1.0
        with torch.no_grad():
            device = self.core.device
            self.core.copy_(torch.view_as_real((core * scale).to(_complex(real))).to(device))
            for parameter, factor in zip(self.factors, factors):
                parameter.copy_(torch.view_as_real(factor.to(_complex(real)).contiguous()).to(device))
        return self

    def complex_core(self) -> torch.Tensor:
        return torch.view_as_complex(self.core)

    def complex_factors(self) -> list[torch.Tensor]:
        return [torch.view_as_complex(f) for f in self.factors]

    def to_dense(self) -> torch.Tensor:
        """All layers' weights, complex ``[L, in, out, *block]`` (the full Tucker reconstruction)."""
        d = len(self.block)
        ranks, modes = "lac" + _RANK_LETTERS[:d], "LIO" + _BLOCK_LETTERS[:d]
        spec = f"{ranks}," + ",".join(f"{m}{r}" for m, r in zip(modes, ranks)) + f"->{modes}"
        return torch.einsum(spec, self.complex_core(), *self.complex_factors())

    def layer_core(self, layer: int) -> torch.Tensor:
        r"""Core of one layer, :math:`\mathcal G \times_0 \Lambda_{\ell,:}`: complex ``[R_in, R_out, *R_block]``."""
        return torch.tensordot(self.complex_factors()[0][layer], self.complex_core(), dims=([0], [0]))

    def layer(self, layer: int) -> JointTuckerLayer:
        """A :class:`~sciml.kernels.SpectralWeight` view of layer ``layer``."""
        if not 0 <= layer < self.n_layers:
            raise ValueError(f"layer: expected 0 <= layer < {self.n_layers}, got {layer}")
        return JointTuckerLayer(self, layer)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, ranks={self.ranks}"


class JointTuckerLayer(TuckerWeightBase):
    r"""Layer ``layer`` of a :class:`JointTucker`, usable as the weight of a ``SpectralConv``.

    A Tucker weight with core :math:`\mathcal G \times_0 \Lambda_{\ell,:}` and the shared factors
    :math:`U, V, X_j`; the contraction (real arithmetic, modes first, direct or through the
    rebuilt weight) is :class:`sciml.kernels.factorized.TuckerWeightBase`'s, the one of
    :class:`sciml.kernels.TuckerSpectralWeight`.

    Holds no parameters: it reads its :class:`JointTucker` (kept outside the module tree, so
    ``state_dict`` and optimizers see every parameter once, through the owner) at every call.
    """

    def __init__(self, joint: JointTucker, layer: int):
        super().__init__(joint.shape[1], joint.shape[2], joint.block)
        object.__setattr__(self, "_joint", joint)           # not a submodule: the model owns it
        self.layer = int(layer)

    @property
    def ranks(self) -> tuple[int, ...]:
        return tuple(self._joint.ranks[1:])

    def tucker_core(self, dtype=None):
        joint = self._joint
        row = real_pairs(joint.factors[0][self.layer], dtype)                   # [R_L]
        return complex_tensordot(row, real_pairs(joint.core, dtype), dims=([0], [0]))

    def tucker_factors(self, dtype=None):
        return [real_pairs(f, dtype) for f in self._joint.factors[1:]]

    def _layer_core_cost(self) -> int:
        return math.prod(self._joint.ranks)

    def _rebuild_cost(self) -> int:
        return self._layer_core_cost() + super()._rebuild_cost()

    def _direct_cost(self, batch: int) -> int:
        return self._layer_core_cost() + super()._direct_cost(batch)

    def extra_repr(self) -> str:
        return f"layer={self.layer}, " + super().extra_repr()


def lowest_frequencies(size: int, rank: int, last: bool) -> torch.Tensor:
    """Indices of the ``rank`` least-``|k|`` frequencies of a retained-block axis of ``size`` entries.

    A block axis other than the last holds ``k = 0, ..., m - 1, -m, ..., -1`` (``size = 2 m``);
    the last axis (real-input transform) holds ``k = 0, ..., size - 1``. Ties in ``|k|`` put
    ``+k`` before ``-k``.

    Examples
    --------
    >>> lowest_frequencies(8, 5, last=False).tolist()      # k = 0, 1, -1, 2, -2
    [0, 1, 7, 2, 6]
    >>> lowest_frequencies(4, 2, last=True).tolist()
    [0, 1]
    """
    if not 1 <= rank <= size:
        raise ValueError(f"rank: expected 1 <= rank <= size={size}, got {rank}")
    if not last and size % 2:
        raise ValueError(f"size: expected an even block axis (2 m entries) for last=False, got {size}")
    frequencies = [i if last or i < size // 2 else i - size for i in range(size)]
    order = sorted(range(size), key=lambda i: (abs(frequencies[i]), frequencies[i] < 0))
    return torch.tensor(order[:rank], dtype=torch.long)


def _complex(real: torch.dtype) -> torch.dtype:
    return torch.complex128 if real == torch.float64 else torch.complex64
