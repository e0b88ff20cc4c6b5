"""The executor every job runs with, picked by environment variables so that one code location runs on a laptop,
a Dask cluster or Kubernetes without code edits (README "Scaling out").

    GENLCA_EXECUTOR        multiprocess (default) | in_process | dask | k8s
    GENLCA_MAX_CONCURRENT  multiprocess: steps at once (0 or unset: one per CPU)
    GENLCA_DASK_ADDRESS    dask: scheduler of an existing cluster (tcp://host:8786); unset: a local cluster per run
    GENLCA_DASK_WORKERS    dask, local cluster: worker processes (default 2)

k8s takes its settings (namespace, env, volumes, resources and GPUs per step) from run config: deploy/k8s/executor.yaml.
Workers of a Dask cluster need the same environment (GENLCA_DATA, GENLCA_DROPS, ...) and this repository importable.
dagster-dask and dagster-k8s are imported only when chosen.
"""

import os
from collections.abc import Mapping

import dagster as dg

EXECUTORS = ("multiprocess", "in_process", "dask", "k8s")
DEFAULT = "multiprocess"


def executor_name(env: Mapping[str, str] = os.environ) -> str:
    name = env.get("GENLCA_EXECUTOR", "").strip().lower() or DEFAULT
    if name not in EXECUTORS:
        raise ValueError(f"GENLCA_EXECUTOR={name!r} is not an executor: use one of {', '.join(EXECUTORS)}")
    return name


def executor_from_env(env: Mapping[str, str] = os.environ) -> dg.ExecutorDefinition:
    """The executor named by GENLCA_EXECUTOR, configured from the other variables."""
    name = executor_name(env)
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": _int(env, "GENLCA_MAX_CONCURRENT", 0)})
    if name == "dask":
        return _dask(env)
    return _k8s()


def dask_cluster(env: Mapping[str, str] = os.environ) -> dict:
    """The dask executor's `cluster` config: the scheduler at GENLCA_DASK_ADDRESS, else a local cluster per run."""
    address = env.get("GENLCA_DASK_ADDRESS", "").strip()
    if address:
        return {"existing": {"address": address}}
    # One worker process per step slot: Dagster steps are not thread-safe. No dashboard: Dask's default listens on
    # every interface, and a cluster that lives one run has little to show (a scheduler of your own can have one).
    return {"local": {"n_workers": _int(env, "GENLCA_DASK_WORKERS", 2), "threads_per_worker": 1,
                      "host": "127.0.0.1", "dashboard_address": None}}


def _dask(env: Mapping[str, str]) -> dg.ExecutorDefinition:
    from orchestration.dask_executor import run_scoped_dask_executor  # dagster-dask's, mended (see there)

    return run_scoped_dask_executor.configured({"cluster": dask_cluster(env)}, name="dask")


def _k8s() -> dg.ExecutorDefinition:
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError as e:  # a trimmed image: say what to install rather than fail deep in Dagster
        raise ImportError("GENLCA_EXECUTOR=k8s needs dagster-k8s (pip install dagster-k8s==0.29.27)") from e
    return k8s_job_executor


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{key}={raw!r}: expected a whole number") from None
    if value < 0:
        raise ValueError(f"{key}={raw!r}: expected 0 or more")
    return value
