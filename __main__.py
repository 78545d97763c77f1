"""gpufleet: an EKS platform for distributed ML training and inference.

`pulumi up --stack <env>` runs this file; `gpufleet plan <env>` runs the same
`gpufleet.modules.platform.build` in-process under Pulumi's mock engine.
"""

from gpufleet.modules import config
from gpufleet.modules.platform import build

build(config.load()).export()
