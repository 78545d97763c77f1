"""Kubernetes resource quantities (``8``, ``"500m"``, ``"16Gi"``, ``"1e3"``) as numbers.

The grammar of k8s.io/apimachinery ``pkg/api/resource/quantity.go`` (binary suffixes
Ki..Ei, decimal n, u, m, k, M..E, and decimal exponents).
"""

from __future__ import annotations

import re

_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "n": 1e-9, "u": 1e-6,
           "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def parse_quantity(value: str | int | float) -> float:
    """The quantity's value in base units (cores, bytes, devices); ValueError when not one."""
    if isinstance(value, bool):
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    m = _QUANTITY.match(str(value).strip())
    if not m:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, suffix = float(m.group(1)), m.group(2)
    if suffix is None:
        return number
    if suffix[0] in "eE":
        return number * 10 ** int(suffix[1:])
    return number * _SUFFIX[suffix]
