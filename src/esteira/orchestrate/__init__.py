"""Running the batch systems one after another: `esteira run all | step | list`.

A convenience for one machine (the schedulers are deploy/airflow and deploy/databricks):
the steps are declared in settings (`run.steps`, defaults in config.py), each one an
`esteira` command line, and run in this process so that one engine session serves all.
"""
