"""The beat schedule of the health checks, as django-celery-beat rows an admin can see and change in Django admin:
the sweep every SPLICE_HEALTH_INTERVAL seconds, and the pruning of old check history once a day."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

SWEEP = "Connection health sweep"
PRUNE = "Prune check history"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")

    every, _ = IntervalSchedule.objects.get_or_create(every=settings.SPLICE_HEALTH_INTERVAL, period="seconds")
    PeriodicTask.objects.get_or_create(name=SWEEP, defaults={
        "task": "splice.health.sweep", "interval": every,
        "description": "Checks every connected or failing connection with its app's test request.",
    })
    daily, _ = CrontabSchedule.objects.get_or_create(minute="30", hour="3", day_of_week="*", day_of_month="*",
                                                     month_of_year="*", timezone="UTC")
    PeriodicTask.objects.get_or_create(name=PRUNE, defaults={
        "task": "splice.health.prune", "crontab": daily,
        "description": "Deletes connection check history older than SPLICE_CHECK_HISTORY_DAYS.",
    })
    # Beat reloads its schedule when this changes (what PeriodicTask.save() does outside migrations).
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[SWEEP, PRUNE]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0003_health"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
