"""Typed stack configuration: pydantic models, one file per domain.

``modules.config`` is the only place that reads Pulumi config; it validates what it
reads against :class:`modules.schema.stack.StackConfig` (field rules: the config itself and
catalog facts), then runs :mod:`modules.checks` (the rules that need derived figures: cost,
quotas, time to ready, system-pool fit). Nothing here imports those figures' modules.
"""
