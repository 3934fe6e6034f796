from django import forms
from django.utils import timezone

from accounts.models import Project
from recipes.builtins import CALL_FIELD_TYPES, FIELD_NAME_RE
from recipes.models import Recipe
from recipes.services import MAX_POLL_MINUTES, MAX_RETRY_LIMIT, MIN_POLL_MINUTES

DESCRIPTION_MAX_LENGTH = 2000  # the model's TextField has no limit of its own
CALL_FIELD_TYPE_LABELS = {"string": "Text", "integer": "Whole number", "number": "Number", "boolean": "Yes or no",
                          "object": "Object (JSON)", "array": "List (JSON)"}


class RecipeForm(forms.ModelForm):
    description = forms.CharField(label="Description", required=False, max_length=DESCRIPTION_MAX_LENGTH,
                                  widget=forms.Textarea(attrs={"rows": 3}))

    class Meta:
        model = Recipe
        fields = ["name", "project", "kind", "description"]
        widgets = {"kind": forms.RadioSelect}
        help_texts = {"kind": "Runtime user connections are available only in callable and workbot recipes."}
        labels = {"name": "Recipe name"}

    def __init__(self, *args, projects=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects if projects is not None else Project.objects.none()
        self.fields["project"].empty_label = None


class RecipeSettingsForm(forms.ModelForm):
    description = forms.CharField(label="Description", required=False, max_length=DESCRIPTION_MAX_LENGTH,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    retry_limit = forms.IntegerField(
        label="Retries of a failing step", min_value=0, max_value=MAX_RETRY_LIMIT,
        help_text=f"0 to {MAX_RETRY_LIMIT}. A step that meets a passing failure (a timeout, 429 Too Many Requests, a "
                  "5xx answer) is tried again this many times, waiting longer each time. A request that may have "
                  "reached the app is retried only when the action is safe to repeat.")
    poll_minutes = forms.IntegerField(
        label="Poll every (minutes)", min_value=MIN_POLL_MINUTES, max_value=MAX_POLL_MINUTES,
        help_text=f"{MIN_POLL_MINUTES} to {MAX_POLL_MINUTES} (a day). How often a trigger that polls asks the app for "
                  "new records. Other triggers ignore it.")

    class Meta:
        model = Recipe
        fields = ["name", "kind", "description", "retry_limit", "poll_minutes"]
        widgets = {"kind": forms.RadioSelect}
        labels = {"name": "Recipe name"}


class CallFieldForm(forms.Form):
    """One more input field of a callable recipe. The service checks the whole list again
    (builtins.call_fields_clean); the form says what is wrong with the name next to it."""

    name = forms.CharField(label="Field name", max_length=50,
                           help_text="Letters, digits and _, starting with a letter: customer_email.")
    type = forms.ChoiceField(label="Type", choices=[(t, CALL_FIELD_TYPE_LABELS[t]) for t in CALL_FIELD_TYPES])
    required = forms.BooleanField(label="Required", required=False,
                                  help_text="A call without it is refused with a message naming it.")

    def __init__(self, *args, declared=(), **kwargs):
        kwargs.setdefault("prefix", "call_field")
        super().__init__(*args, **kwargs)
        self.declared = {f.get("name") for f in declared if isinstance(f, dict)}

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not FIELD_NAME_RE.match(name):
            raise forms.ValidationError(f"“{name}” is not a field name: use letters, digits and _, starting with a "
                                        "letter.")
        if name in self.declared:
            raise forms.ValidationError(f"The recipe has an input field “{name}” already.")
        return name


class RecipeStartForm(forms.Form):
    """Where a poll trigger begins: from now (what the app lists today is not new), or since a date."""

    FROM_NOW, SINCE = "now", "since"
    begin = forms.ChoiceField(label="Start with", choices=[(FROM_NOW, "New records from now on"),
                                                           (SINCE, "Records created since…")],
                              initial=FROM_NOW, required=False, widget=forms.RadioSelect)
    since = forms.DateTimeField(
        label="Since date", required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Every record the app made since then starts a job, oldest first.")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "start")
        super().__init__(*args, **kwargs)
        # A datetime-local input sends no time zone: the form reads it in Splice's (settings.TIME_ZONE).
        self.fields["since"].help_text = (f"A date, or a date and time ({timezone.get_current_timezone_name()}). "
                                          + self.fields["since"].help_text)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("begin") != self.SINCE:  # from now, also when a form (or a program) does not say
            cleaned["since"] = None
            return cleaned
        since = cleaned.get("since")
        if since is None and "since" not in self.errors:
            self.add_error("since", "Choose the date to start from, or start with new records from now on.")
        elif since is not None and since > timezone.now():
            self.add_error("since", "Choose a date in the past: records from the future are new records from now "
                                    "on.")
        return cleaned
