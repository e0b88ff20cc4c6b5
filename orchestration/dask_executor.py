"""dagster-dask's executor, mended in two places (imported only when GENLCA_EXECUTOR=dask). Measured with
dagster-dask 0.29.27 and dask/distributed 2026.11.0:

- Task names. dagster-dask names each step's task `<job>.<step>`. Dask takes tasks of equal names for one computation,
  so when two runs of one job (two drops of a backfill) shared a scheduler, the second run received the first one's
  step events and was marked successful without running a step. Here the names carry the run id.
- Task arguments. Dask now walks every tuple among a task's arguments looking for futures; a DagsterRun is a tuple and
  a partitioned run holds a Dagster record that refuses iteration, so every partitioned run failed before its first
  step. Here the arguments travel inside one object Dask does not walk.

The rest is dagster-dask's own `DaskExecutor.execute`, for the two cluster kinds this project configures.
"""

import dagster as dg
import dask.distributed
from dagster import _check as check
from dagster._core.errors import raise_execution_interrupts
from dagster._utils import iterate_with_context
from dagster_dask.executor import DaskExecutor, dask_executor, get_dask_resource_requirements, query_on_dask_worker


class _Opaque:
    """Arguments Dask passes through as they are (it walks tuples, lists, sets and dicts only)."""

    def __init__(self, *args):
        self.args = args


def _execute_step(upstream, args: _Opaque):
    return query_on_dask_worker(upstream, *args.args)  # upstream: futures Dask resolves first, unused


class RunScopedDaskExecutor(DaskExecutor):
    def execute(self, plan_context, execution_plan):
        if self.cluster_type not in ("existing", "local"):
            yield from super().execute(plan_context, execution_plan)  # not configured here: dagster-dask's as is
            return
        check.invariant(plan_context.instance.is_persistent, "Dask execution requires a persistent DagsterInstance")
        run_id = plan_context.dagster_run.run_id
        local = None if self.cluster_type == "existing" else dask.distributed.LocalCluster(
            **self.build_dict(plan_context.job_name))
        try:
            with dask.distributed.Client(local or self.cluster_configuration["address"]) as client:
                futures = {}
                for level in execution_plan.get_steps_to_execute_by_level():
                    for step in level:  # Dask orders the tasks: each waits for its upstream steps' futures
                        upstream = [futures[k] for i in step.step_inputs for k in i.dependency_keys]
                        args = _Opaque(plan_context.reconstructable_job, plan_context.dagster_run,
                                       plan_context.run_config, [step.key], plan_context.instance.get_ref(),
                                       execution_plan.known_state)
                        futures[step.key] = client.submit(
                            _execute_step, upstream, args, key=f"{plan_context.job_name}.{step.key}.{run_id}",
                            resources=get_dask_resource_requirements(step.tags))
                done = dask.distributed.as_completed(list(futures.values()), with_results=True)
                for _, events in iterate_with_context(raise_execution_interrupts, done):
                    yield from events
        finally:
            if local is not None:  # dagster-dask leaves its local cluster to the process's exit
                local.close()


@dg.executor(name="dask", config_schema=dask_executor.config_schema,
             requirements=dg.multiple_process_executor_requirements())
def run_scoped_dask_executor(init_context):
    """dagster-dask's `dask_executor` (same config), its tasks named per run."""
    ((cluster_type, cluster_config),) = init_context.executor_config["cluster"].items()
    return RunScopedDaskExecutor(cluster_type, cluster_config)
