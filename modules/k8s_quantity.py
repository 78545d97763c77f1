"""Kubernetes resource quantities (``8``, ``"500m"``, ``"16Gi"``, ``"1e3"``) as numbers.

The grammar of k8s.io/apimachinery ``pkg/api/resource/quantity.go`` (binary suffixes
Ki..Ei, decimal n, u, m, k, M..E, and decimal exponents). :func:`quantity` is exact (a
``Fraction``, as ``resource.Quantity`` keeps an exact value); :func:`milli_value` and
:func:`mebibytes` round up as ``Quantity.MilliValue`` / ``Quantity.Value`` do ("the value
of ceil(q * 1000)"), so a sum of requests is never below what the scheduler counts.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_SUFFIX = {"Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
           "Pi": Fraction(2**50), "Ei": Fraction(2**60), "n": Fraction(1, 10**9), "u": Fraction(1, 10**6),
           "m": Fraction(1, 10**3), "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9),
           "T": Fraction(10**12), "P": Fraction(10**15), "E": Fraction(10**18)}
#: exponents beyond Quantity's range (it refuses them; here they would make huge integers)
_MAX_EXPONENT = 100


def quantity(value: str | int | float) -> Fraction:
    """The quantity's exact value in base units (cores, bytes, devices); ValueError when not one."""
    if isinstance(value, bool):
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"not a Kubernetes quantity: {value!r}")
        return Fraction(value)
    m = _QUANTITY.match(str(value).strip())
    if not m:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, suffix = Fraction(m.group(1)), m.group(2)
    if suffix is None:
        return number
    if suffix[0] in "eE":
        exponent = int(suffix[1:])
        if abs(exponent) > _MAX_EXPONENT:
            raise ValueError(f"not a Kubernetes quantity: {value!r}")
        return number * Fraction(10) ** exponent
    return number * _SUFFIX[suffix]


def parse_quantity(value: str | int | float) -> float:
    """The quantity's value in base units (cores, bytes, devices) as a float; ValueError when not one."""
    return float(quantity(value))


def milli_value(value: str | int | float) -> int:
    """Thousandths, rounded up (``Quantity.MilliValue``): millicores of a cpu quantity."""
    return math.ceil(quantity(value) * 1000)


def mebibytes(value: str | int | float) -> int:
    """Whole MiB, rounded up (a memory request never counts for less than it asks)."""
    return math.ceil(quantity(value) / 2**20)
