from django import forms
from django.contrib.auth.models import Group

from accounts.models import Project, ProjectAccess, User

DESCRIPTION_MAX_LENGTH = 2000  # the model's TextField has no limit of its own


class NoColonLabels:
    """Labels as every Splice form writes them: "Name", not "Name:"."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ProjectForm(NoColonLabels, forms.ModelForm):
    description = forms.CharField(label="Description", required=False, max_length=DESCRIPTION_MAX_LENGTH,
                                  widget=forms.Textarea(attrs={"rows": 3}))

    class Meta:
        model = Project
        fields = ["name", "description"]


class ShareProjectForm(NoColonLabels, forms.Form):
    """Share with one person (by email) or one role. Whether an account has the email is not checked here:
    the answer must not tell the sharer (services.project_share_with_email)."""

    email = forms.EmailField(label="Person's email", required=False, max_length=254)  # User.email's max_length
    role = forms.ModelChoiceField(label="Or a role", queryset=Group.objects.order_by("name"), required=False)
    level = forms.ChoiceField(label="Access", choices=ProjectAccess.choices, initial=ProjectAccess.USE)

    def clean(self):
        data = super().clean()
        email, role = data.get("email"), data.get("role")
        if bool(email) == bool(role):
            raise forms.ValidationError("Enter a person's email or choose a role (one of the two).")
        data["level"] = ProjectAccess(data["level"]) if data.get("level") else None
        return data


class ProfileForm(NoColonLabels, forms.ModelForm):
    class Meta:
        model = User
        fields = ["first_name", "last_name"]
