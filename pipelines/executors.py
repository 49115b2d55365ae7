"""Which Dagster executor runs the steps of a run, chosen by configuration only (``LOGRCA_EXECUTOR``).

The same job and assets run on one machine or many; only the environment changes:

``multiprocess`` (default)
    Dagster's multiprocess executor: each step in its own process on this machine, at most
    ``LOGRCA_MAX_CONCURRENT`` (default 2) at a time. Partitions run in parallel through the
    instance's run queue (``dagster_home/dagster.yaml``: ``run_queue.max_concurrent_runs``).
``in_process``
    Every step in the run's own process (smallest overhead, for debugging and tiny inputs).
``celery``
    ``dagster_celery.celery_executor``: steps become Celery tasks on a broker
    (``LOGRCA_CELERY_BROKER``, e.g. ``redis://host:6379/0`` or ``pyamqp://user:pw@host//``;
    results on ``LOGRCA_CELERY_BACKEND``, default the broker URL) and run on
    ``dagster-celery worker`` processes on any number of hosts. Needs the ``celery`` extra.
``k8s``
    ``dagster_k8s.k8s_job_executor``: each step in its own Kubernetes Job (image, namespace and
    service account come from the run launcher / Helm values). Needs the ``k8s`` extra.

See ``docs/scaling.md`` for the worked examples.
"""

from __future__ import annotations

import os

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

__all__ = ["EXECUTORS", "executor_from_env", "celery_worker_config"]

EXECUTORS = ("multiprocess", "in_process", "celery", "k8s")


def _celery_config(env=None) -> dict:
    env = os.environ if env is None else env
    broker = env.get("LOGRCA_CELERY_BROKER")
    if not broker:
        raise ValueError("LOGRCA_EXECUTOR=celery needs LOGRCA_CELERY_BROKER, e.g. redis://127.0.0.1:6379/0")
    return {
        "broker": {"env": "LOGRCA_CELERY_BROKER"},
        "backend": env.get("LOGRCA_CELERY_BACKEND", broker),
        # One step at a time per worker process: long steps do not starve the queue.
        "config_source": {
            "worker_prefetch_multiplier": 1,
            "task_acks_late": True,
            "broker_connection_retry_on_startup": True,
        },
    }


def celery_worker_config() -> dict:
    """The YAML body for ``dagster-celery worker start -y FILE`` matching :func:`executor_from_env`."""
    return {"execution": {"config": _celery_config()}}


def executor_from_env(environ: dict[str, str] | None = None) -> ExecutorDefinition:
    """The executor named by ``LOGRCA_EXECUTOR`` (default ``multiprocess``), configured from the environment.

    Raises
    ------
    ValueError
        For an unknown executor name (the message lists the known ones), or a missing setting.
    ImportError
        When the executor's extra is not installed (names the ``uv sync --extra`` to run).
    """
    env = os.environ if environ is None else environ
    name = env.get("LOGRCA_EXECUTOR", "multiprocess").strip().lower() or "multiprocess"
    if name not in EXECUTORS:
        raise ValueError(f"LOGRCA_EXECUTOR={name!r} is not one of {', '.join(EXECUTORS)}")
    if name == "in_process":
        return in_process_executor
    if name == "multiprocess":
        limit = int(env.get("LOGRCA_MAX_CONCURRENT", "2"))
        return multiprocess_executor.configured({"max_concurrent": limit, "retries": {"enabled": {}}})
    if name == "celery":
        try:
            from dagster_celery import celery_executor
        except ImportError as error:
            raise ImportError(
                "LOGRCA_EXECUTOR=celery needs the celery extra: uv sync --extra celery"
            ) from error
        return celery_executor.configured(_celery_config(env))
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError as error:
        raise ImportError("LOGRCA_EXECUTOR=k8s needs the k8s extra: uv sync --extra k8s") from error
    limit = int(env.get("LOGRCA_MAX_CONCURRENT", "8"))
    return k8s_job_executor.configured({"max_concurrent": limit})
