"""The runtime's own beat schedule, as django-celery-beat rows an admin can see in Django admin: recovering jobs
whose task was lost, every minute, and pruning old jobs once a day."""

from django.db import migrations
from django.utils import timezone

RECOVER = "Recover lost jobs"
PRUNE = "Prune old jobs"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")

    minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(name=RECOVER, defaults={
        "task": "splice.jobs.recover", "interval": minute,
        "description": "Enqueues again the jobs whose task was lost (a killed worker); finished steps do not rerun.",
    })
    daily, _ = CrontabSchedule.objects.get_or_create(minute="45", hour="3", day_of_week="*", day_of_month="*",
                                                     month_of_year="*", timezone="UTC")
    PeriodicTask.objects.get_or_create(name=PRUNE, defaults={
        "task": "splice.jobs.prune", "crontab": daily,
        "description": "Deletes jobs older than SPLICE_JOB_RETENTION_DAYS.",
    })
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[RECOVER, PRUNE]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recipes", "0003_runtime"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
