"""Shared building blocks of the config models."""

from __future__ import annotations

import re
from typing import Annotated, Any, NoReturn

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from pydantic_core import PydanticCustomError

#: A Kubernetes label value / DNS-1123 label: used for pool and team names, which become
#: label values, namespace names and parts of logical resource names.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_KEY_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)

_DNS_LABEL_RE = re.compile(DNS_LABEL)


def _dns_label(value: str) -> str:
    if len(value) > 40 or not _DNS_LABEL_RE.match(value):
        raise ValueError("a lowercase name of 1-40 characters a-z, 0-9 and '-', alphanumeric at both ends "
                         "(it becomes a Kubernetes label value and part of resource names)")
    return value


Name = Annotated[str, AfterValidator(_dns_label)]
NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


class StrictModel(BaseModel):
    """Unknown keys are errors, values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True)


def fail(subpath: str, given: Any, detail: str) -> NoReturn:
    """Raise a validation error located at ``subpath`` below the model being validated.

    ``subpath`` uses the config's own spelling (``"mig_config"``, ``"instance_types[1]"``),
    so the message points at the exact key in the stack file.
    """
    raise PydanticCustomError("gpufleet", "{detail}", {"detail": detail, "subpath": subpath, "given": given})


def check_labels(subpath: str, labels: dict[str, str]) -> None:
    for key, value in labels.items():
        if not LABEL_KEY_RE.match(key) or len(key.split("/")[-1]) > 63:
            fail(f"{subpath}.{key}", key, "a Kubernetes label key: [prefix/]name, the name at most 63 characters "
                                          "of A-Z, a-z, 0-9, '-', '_' and '.', alphanumeric at both ends, the prefix "
                                          "a lowercase DNS subdomain")
        if len(value) > 63 or not LABEL_VALUE_RE.match(value):
            fail(f"{subpath}.{key}", value, "a Kubernetes label value: empty or at most 63 characters of A-Z, a-z, "
                                            "0-9, '-', '_' and '.', alphanumeric at both ends")
