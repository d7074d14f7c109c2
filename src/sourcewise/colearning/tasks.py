"""Background work of co-learning: tasks take ids and call services."""

from django_tasks import task

from sourcewise.colearning import services


@task()
def compute_study_run(run_id: int) -> None:
    """Compute the KPIs of a large upload (see services.study_upload)."""
    services.study_run_compute(run_id=run_id)
