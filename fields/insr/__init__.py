"""INSR: time-dependent PDEs solved by evolving a neural field's weights (Chen et al., ICML 2023)."""

__all__: list[str] = []
