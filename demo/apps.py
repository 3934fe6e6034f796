from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Installed for its `load_demo` command; Demo CRM's pages answer only while SPLICE_DEMO_APP is on."""

    name = "demo"
    verbose_name = "Demo"
