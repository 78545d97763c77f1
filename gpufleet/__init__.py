"""gpufleet command line: offline plans, costs, policy verdicts and fleet operations."""
