from .soapenv import (
    Body,
    Detail,
    Envelope,
    Fault,
    Header,
)

__all__ = [
    "Body",
    "Envelope",
    "Fault",
    "Header",
    "Detail",
]
