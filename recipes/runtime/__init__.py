"""The recipe runtime: jobs and their steps, the runner that plays them on the bound connections, and the
triggers that start them (schedule, poll, webhook, call). Celery tasks (recipes.tasks) take ids and call in here;
the connections side is reached only through the connection client's operation call and the status recorder."""
