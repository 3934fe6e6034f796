"""Demo users and projects for `make run` (idempotent: running it twice changes nothing)."""

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import roles, services
from accounts.models import Project, ProjectAccess, User

DEMO_USERS = [
    # email, password, role, superuser
    ("admin@example.com", "splice-admin-demo", roles.ADMIN, True),
    ("builder@example.com", "splice-builder-demo", roles.BUILDER, False),
    ("viewer@example.com", "splice-viewer-demo", roles.VIEWER, False),
]
DEMO_PROJECTS = [
    ("Sales operations", "Salesforce, Slack and Gmail recipes for the sales team."),
    ("Customer support", "Zendesk and Jira recipes for the support team."),
]


class Command(BaseCommand):
    help = "Create the demo users (admin, builder, viewer) and two shared projects, if missing."

    @transaction.atomic
    def handle(self, *args, **options):
        users = {}
        for email, password, role, superuser in DEMO_USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                extra = {"is_staff": superuser, "is_superuser": superuser}
                user = User.objects.create_user(email=email, password=password, **extra)
            user.groups.add(Group.objects.get(name=role))
            users[role] = user

        builder = users[roles.BUILDER]
        for name, description in DEMO_PROJECTS:
            project = Project.objects.filter(name=name, is_personal=False).first()
            if project is None:
                project = services.project_create(name=name, description=description, acting_user=builder)
            services.project_share(
                project=project, acting_user=builder, level=ProjectAccess.VIEW, user=users[roles.VIEWER]
            )

        self.stdout.write("Demo accounts (sign in at http://127.0.0.1:8000/):")
        for email, password, role, _ in DEMO_USERS:
            self.stdout.write(f"  {role:<8} {email:<22} password: {password}")
        self.stdout.write("  (passwords are set only when the account is first created)")
