from django.urls import path

from demo import views

urlpatterns = [
    path("", views.account, name="demo_crm_account"),
    path("api/me", views.api_me, name="demo_crm_api_me"),
    path("api/contacts", views.api_contacts, name="demo_crm_api_contacts"),
    path("api/tasks", views.api_tasks, name="demo_crm_api_tasks"),
]
