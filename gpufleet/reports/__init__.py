"""Sections added to every plan (``gpufleet.plan.REPORTS``): each module has ``report(plan) -> Report``."""
