"""gpufleet: an EKS platform for distributed ML training and inference.

`pulumi up --stack <env>` runs this file; `gpufleet plan <env>` runs the same
`modules.platform.build` in-process under Pulumi's mock engine.
"""

from modules import config
from modules.platform import build

build(config.load()).export()
