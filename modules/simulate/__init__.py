"""``gpufleet simulate``: replay a trace of GPU jobs against a stack's platform.

A discrete-event simulation of what the stack deploys (Kueue queues and quotas, the
cluster-autoscaler, the GPU pools with their sharing mode, the scale-down schedule, spot
capacity) fed with a trace of jobs. One concern per module:

- :mod:`.trace` – the job record and the native CSV/JSONL trace format;
- :mod:`.alibaba` – the Alibaba ``cluster-trace-gpu-v2023`` pod list, mapped to jobs;
- :mod:`.platform` – the stack as the simulator sees it (built from a recorded plan);
- :mod:`.shapes` – what a job asks for on each pool (whole GPU, time-slice, MIG slice) and
  whether it can ever run there (the rules of :mod:`modules.workload_rules`);
- :mod:`.quota` – Kueue's quota accounting, cohort borrowing, preemption and backoff;
- :mod:`.admission` – Kueue's queues and admission cycles;
- :mod:`.cluster` – nodes, placement, the autoscaler's scale-up and scale-down, spot;
- :mod:`.calendar` – the scale-down schedule's cron expressions on the simulated clock;
- :mod:`.engine` – the event loop and a job's life; :mod:`.nodes` – the node side of it;
- :mod:`.report` – figures per team and per pool, cost; :mod:`.render` – table, JSON, markdown;
- :mod:`.busy` – the cost model's ``busy`` section as a trace (the cost reconciliation).

Pure: no Pulumi, no network. Same trace, platform and seed give the same result.
"""
