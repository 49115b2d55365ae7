"""Stage 5, running unattended: the one ``Definitions``, the job, schedules, sensors and executors."""
