"""Neural operators (FNO, TFNO, MG-TFNO, MgNO, Transform Once) -- imported as ``sciml.operators``.

Operators subclass :class:`sciml.Operator`; they land with their issues.
"""

__all__: list[str] = []
