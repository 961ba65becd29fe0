"""Neural and tensor-format fields -- imported as ``sciml.fields``. Fields land with their issues."""

__all__: list[str] = []
