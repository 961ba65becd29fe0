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

__all__ = ["JointTucker", "JointTuckerLayer"]

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
    init : {"random", "decompose", "none"}
        ``"random"`` draws the factors directly (:func:`sciml.kernels.factorized.init_tucker_`:
        orthonormal factors, the layer factor with equal row norms, and a scaled core), so all
        layers together have entries of mean square ``2 / (in + out)``, like dense layers, and
        each layer about that, without forming the dense tensor. ``"decompose"`` draws such dense weights and fits them with tensorly's
        ``tucker`` (the former initialisation, far slower for large layers); ``"none"`` leaves
        zeros (weights loaded from a checkpoint or :meth:`fit` next).

    Attributes
    ----------
    core : Parameter ``[R_L, R_in, R_out, *R_block, 2]``
    factors : ParameterList of ``[n, R, 2]`` for the modes ``(layer, in, out, *block)``
    """

    def __init__(self, n_layers: int, in_channels: int, out_channels: int, block: Sequence[int], rank,
                 dtype: torch.dtype = torch.float32, init: str = "random"):
        super().__init__()
        if init not in ("random", "decompose", "none"):
            raise ValueError(f"init: expected 'random', 'decompose' or 'none', got {init!r}")
        self.shape = (int(n_layers), int(in_channels), int(out_channels), *(int(k) for k in block))
        self.ranks = resolve_rank("tucker", self.shape, rank)
        self.core = nn.Parameter(torch.zeros(*self.ranks, 2, dtype=dtype))
        self.factors = nn.ParameterList([nn.Parameter(torch.zeros(n, r, 2, dtype=dtype))
                                         for n, r in zip(self.shape, self.ranks)])
        if init == "random":
            init_tucker_(self.core, list(self.factors), math.sqrt(2.0 / (self.shape[1] + self.shape[2])),
                         balanced_modes=(0,))
        elif init == "decompose":
            self.fit(None, match_norm=True)

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
            std = math.sqrt(2.0 / (self.shape[1] + self.shape[2]))
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


def _complex(real: torch.dtype) -> torch.dtype:
    return torch.complex128 if real == torch.float64 else torch.complex64
