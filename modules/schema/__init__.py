"""Typed stack configuration: pydantic models, one file per domain.

``modules.config`` is the only place that reads Pulumi config; it validates what it
reads against :class:`modules.schema.stack.StackConfig`.
"""
