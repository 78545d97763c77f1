"""gpufleet's Pulumi components, typed configuration and catalog."""
