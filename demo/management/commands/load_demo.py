"""Demo users and projects for `make run`, and a connection to Demo CRM when it is on (idempotent: running it
twice changes nothing). It sets up every app, so it lives above them, in the demo package."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse

from accounts import roles, services
from accounts.models import Project, ProjectAccess, User
from connections.models import Connection
from connections.services import connection_create
from demo.services import DEMO_CONNECTION, DEMO_USERS, demo_recipes_create
from demo.tasks import demo_start_task
from demo.views import DEMO_ACCOUNT, demo_api_url, demo_page_url

DEMO_PROJECTS = [
    ("Sales operations", "Salesforce, Slack and Gmail recipes for the sales team."),
    ("Customer support", "Zendesk and Jira recipes for the support team."),
]


class Command(BaseCommand):
    help = ("Create the demo users (admin, builder, viewer), two shared projects and (SPLICE_DEMO_APP) a Demo CRM "
            "connection, if missing.")

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
        projects = []
        for name, description in DEMO_PROJECTS:
            project = Project.objects.filter(name=name, is_personal=False).first()
            if project is None:
                project = services.project_create(name=name, description=description, acting_user=builder)
            services.project_share(
                project=project, acting_user=builder, level=ProjectAccess.VIEW, user=users[roles.VIEWER]
            )
            projects.append(project)

        sign_in = f"{settings.SPLICE_BASE_URL.rstrip('/')}{reverse('account_login')}"
        self.stdout.write(f"Demo accounts (sign in at {sign_in}):")
        for email, password, role, _ in DEMO_USERS:
            self.stdout.write(f"  {role:<8} {email:<22} password: {password}")
        self.stdout.write("  (passwords are set only when the account is first created)")
        if settings.SPLICE_DEMO_APP:
            self._demo_crm_connection(projects[0], builder)

    def _demo_crm_connection(self, project: Project, builder: User) -> None:
        """A Demo CRM connection and two recipes on it. The app answers once the server runs, so a task authorizes
        the connection with the demo account then and starts the recipes: jobs appear within a minute."""
        connection = Connection.objects.filter(project=project, name=DEMO_CONNECTION).first()
        if connection is None:
            connection = connection_create(
                project=project, connector_key="demo_crm", name=DEMO_CONNECTION, acting_user=builder,
                auth_method="basic", settings_values={"base_url": demo_api_url()},
                description="The demo app served by this Splice, authorized with the demo account.")
        recipes = demo_recipes_create(project=project, connection=connection, builder=builder)
        transaction.on_commit(lambda: demo_start_task.apply_async(args=[connection.pk, builder.pk], countdown=2))
        self.stdout.write(f"Demo CRM (an app served by this Splice, at {demo_page_url()}):")
        self.stdout.write(f"  “{DEMO_CONNECTION}” in {project.name} signs in as {DEMO_ACCOUNT['email']} / "
                          f"{DEMO_ACCOUNT['password']} (API key: {DEMO_ACCOUNT['api_key']}) once the server answers,")
        self.stdout.write(f"  and starts the recipes {', '.join(f'“{r.name}”' for r in recipes)}: watch their jobs.")
