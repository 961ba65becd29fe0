"""Per-channel normalizers (being written)."""

from torch import nn


class Normalizer(nn.Module):
    pass


class GaussianNormalizer(Normalizer):
    pass


class MinMaxNormalizer(Normalizer):
    pass
