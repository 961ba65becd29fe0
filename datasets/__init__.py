"""PDE data: solvers and readers -- imported as ``sciml.datasets``. Solvers land with their issue."""

__all__: list[str] = []
