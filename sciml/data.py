"""Paired input/output functions for operator learning."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from .sampled import Sampled

__all__ = ["OperatorDataset"]


class OperatorDataset(Dataset):
    """Pairs ``(a_i, u_i)`` of input and target functions.

    Parameters
    ----------
    inputs, targets : Sampled
        Same batch size; each may live on its own discretization.

    Notes
    -----
    Items are ``(inputs.values[i], targets.values[i])`` tensors so that any
    ``torch.utils.data`` sampler works (``DistributedSampler`` included);
    :meth:`collate` puts a list of items back on the discretizations.

    Examples
    --------
    >>> grid = Grid.uniform((16, 16))
    >>> data = OperatorDataset(Sampled(torch.rand(8, 1, 16, 16), grid), Sampled(torch.rand(8, 1, 16, 16), grid))
    >>> a, u = data.collate([data[0], data[3]])
    >>> a.shape
    (2, 1, 16, 16)
    """

    def __init__(self, inputs: Sampled, targets: Sampled):
        for name, value in (("inputs", inputs), ("targets", targets)):
            if not isinstance(value, Sampled):
                raise TypeError(f"{name}: expected Sampled, got {type(value).__name__}")
        if inputs.batch_size != targets.batch_size:
            raise ValueError(
                f"targets: expected batch size {inputs.batch_size} to match inputs, got {targets.batch_size}"
            )
        self.inputs = inputs
        self.targets = targets

    def __len__(self) -> int:
        return self.inputs.batch_size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs.values[index], self.targets.values[index]

    def __repr__(self) -> str:
        return f"OperatorDataset(n={len(self)}, inputs={self.inputs!r}, targets={self.targets!r})"

    def collate(self, items: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[Sampled, Sampled]:
        """Stack items into a batch of ``(inputs, targets)`` on their discretizations."""
        a = torch.stack([item[0] for item in items])
        u = torch.stack([item[1] for item in items])
        return self.inputs.with_values(a), self.targets.with_values(u)

    def subset(self, indices) -> OperatorDataset:
        """The pairs at ``indices`` (a slice, a sequence or a tensor of indices)."""
        if not isinstance(indices, slice):
            indices = torch.as_tensor(indices, dtype=torch.long)
        return OperatorDataset(self.inputs[indices], self.targets[indices])

    def split(self, n_first: int) -> tuple[OperatorDataset, OperatorDataset]:
        """The first ``n_first`` pairs and the rest."""
        if not 0 < n_first < len(self):
            raise ValueError(f"n_first: expected 0 < n_first < {len(self)}, got {n_first}")
        return self.subset(slice(0, n_first)), self.subset(slice(n_first, None))

    def to(self, *args, **kwargs) -> OperatorDataset:
        return OperatorDataset(self.inputs.to(*args, **kwargs), self.targets.to(*args, **kwargs))

    def at_resolution(self, shape, method: str = "auto") -> OperatorDataset:
        """Both inputs and targets resampled to ``shape`` (grids only).

        Resampled targets carry no detail finer than the original data; for
        true super-resolution tests regenerate the data at the finer grid
        with the solvers of :mod:`sciml.datasets`.
        """
        return OperatorDataset(self.inputs.at_resolution(shape, method), self.targets.at_resolution(shape, method))
