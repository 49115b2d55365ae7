"""The executor is chosen by configuration only (LOGRCA_EXECUTOR and its settings)."""

from __future__ import annotations

import pytest

from logrca.pipelines.executors import celery_worker_config, executor_from_env


def test_default_is_the_multiprocess_executor_with_a_concurrency_limit():
    executor = executor_from_env({})
    assert executor.name == "multiprocess"
    assert executor_from_env({"LOGRCA_EXECUTOR": "in_process"}).name == "in_process"


def test_celery_executor_reads_the_broker_from_the_environment():
    executor = executor_from_env(
        {"LOGRCA_EXECUTOR": "celery", "LOGRCA_CELERY_BROKER": "redis://127.0.0.1:6379/0"}
    )
    assert executor.name == "celery"
    with pytest.raises(ValueError, match="LOGRCA_CELERY_BROKER"):
        executor_from_env({"LOGRCA_EXECUTOR": "celery"})


def test_worker_config_matches_the_executor(monkeypatch):
    monkeypatch.setenv("LOGRCA_CELERY_BROKER", "redis://broker:6379/0")
    config = celery_worker_config()["execution"]["config"]
    assert config["broker"] == {"env": "LOGRCA_CELERY_BROKER"}
    assert config["backend"] == "redis://broker:6379/0"


def test_unknown_executor_names_the_known_ones():
    with pytest.raises(ValueError, match="multiprocess, in_process, celery, k8s"):
        executor_from_env({"LOGRCA_EXECUTOR": "threads"})
