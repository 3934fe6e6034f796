"""Forms of the connection wizard and pages, built from the connector's spec."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from accounts.models import Project
from connections.auth import auth_for
from connections.catalog import ConnectorSpec, InvalidSettings, SettingField
from connections.models import Connection, OAuthProfile

SETTING_PREFIX = "setting_"
SECRET_PREFIX = "secret_"
# Size limits: a secret may be a PEM private key (a 4096-bit RSA key is about 3,300 characters).
SECRET_MAX_LENGTH = 8192
DESCRIPTION_MAX_LENGTH = 2000
MAX_TAGS, TAG_MAX_LENGTH = 20, 50
INTEGER_LIMIT = 2**63 - 1  # what a 64-bit integer holds, wherever the setting ends up

ENVIRONMENT_HELP = (
    "Use sandbox (non-production) credentials while you develop and test recipes, so live data "
    "is never changed by accident."
)


def setting_formfield(setting: SettingField) -> forms.Field:
    """A form field for one of the spec's settings, with its label, help, default and pattern."""
    required = setting.required and setting.default is None
    common = {"label": setting.label, "help_text": setting.help, "required": required}
    if setting.type == "boolean":
        return forms.BooleanField(**{**common, "required": False}, initial=bool(setting.default))
    if setting.type == "integer":
        return forms.IntegerField(**common, initial=setting.default, min_value=-INTEGER_LIMIT, max_value=INTEGER_LIMIT)
    if setting.type == "select":
        choices = [(o.value, o.label or o.value) for o in setting.options]
        return forms.ChoiceField(**common, choices=choices, initial=setting.default)
    field_class = forms.URLField if setting.type == "url" else forms.CharField
    attrs = {"placeholder": str(setting.example)} if setting.example else {}
    if setting.pattern:
        attrs["pattern"] = setting.pattern.removeprefix("^").removesuffix("$")
    kwargs = {"assume_scheme": "https"} if setting.type == "url" else {}
    return field_class(**common, initial=setting.default, max_length=setting.max_length,
                       widget=forms.TextInput(attrs=attrs), **kwargs)


class SpecSettingsMixin:
    """Adds the spec's settings (and secret settings) for the chosen auth method to a form."""

    spec: ConnectorSpec
    method_key: str

    def add_setting_fields(self, *, secret_required: bool = True) -> None:
        for name, setting in self.spec.settings_for(self.method_key).items():
            self.fields[SETTING_PREFIX + name] = setting_formfield(setting)
        for name, secret in self.spec.secret_fields_for(self.method_key).items():
            self.fields[SECRET_PREFIX + name] = forms.CharField(
                label=secret.label, help_text=secret.help or ("Leave blank to keep the current value."
                                                               if not secret_required else ""),
                required=secret.required and secret_required, widget=forms.PasswordInput(render_value=False),
                max_length=SECRET_MAX_LENGTH,
            )

    def setting_values(self) -> dict:
        return {name.removeprefix(SETTING_PREFIX): value for name, value in self.cleaned_data.items()
                if name.startswith(SETTING_PREFIX) and value not in (None, "")}

    def secret_values(self) -> dict:
        return {name.removeprefix(SECRET_PREFIX): value for name, value in self.cleaned_data.items()
                if name.startswith(SECRET_PREFIX) and value}

    def check_settings(self, *, loopback: bool) -> None:
        """Validate the settings with the spec's own rules; each problem goes beside its field."""
        try:
            self.spec.clean_settings(self.setting_values(), method=self.method_key, allow_insecure_loopback=loopback)
        except InvalidSettings as exc:
            for name, message in exc.errors.items():
                field = SETTING_PREFIX + name
                if field in self.fields and field in self.errors:
                    continue  # the form field already said what is wrong
                sentence = message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
                self.add_error(field if field in self.fields else None, sentence)

    def setting_fields(self):
        return [self[name] for name in self.fields if name.startswith((SETTING_PREFIX, SECRET_PREFIX))]


class DescribeConnectionForm(SpecSettingsMixin, forms.Form):
    """Step 2 of the wizard: name, project, environment, auth method, settings, advanced options."""

    name = forms.CharField(label="Connection name", max_length=120,
                           help_text="Unique within the project, e.g. “Sales Gmail (sandbox)”.")
    project = forms.ModelChoiceField(label="Project", queryset=Project.objects.none(), empty_label=None)
    environment = forms.ChoiceField(label="Environment", choices=Connection.Environment.choices,
                                    initial=Connection.Environment.PRODUCTION, widget=forms.RadioSelect,
                                    help_text=ENVIRONMENT_HELP)

    def __init__(self, *args, spec: ConnectorSpec, method_key: str, projects, profiles=None, loopback=False,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.spec, self.method_key, self.loopback = spec, method_key, loopback
        self.fields["project"].queryset = projects
        if len(spec.auth) > 1:
            self.fields["auth_method"] = forms.ChoiceField(
                label="Authentication", choices=[(m.key, m.label) for m in spec.auth], initial=method_key,
                help_text="How Splice signs in to the app.",
            )
        self.add_setting_fields()
        method = spec.auth_method(method_key)
        auth = auth_for(method.type)
        scopes = auth.scopes(method)
        if scopes is not None and scopes.optional:
            self.fields["scopes"] = forms.MultipleChoiceField(
                label="Extra permissions (scopes)", required=False, widget=forms.CheckboxSelectMultiple,
                choices=[(s.name, f"{s.name} — {s.description}" if s.description else s.name)
                         for s in scopes.optional],
                help_text=f"Always requested: {', '.join(scopes.default) or 'none'}.",
            )
        if profiles is not None and auth.needs_oauth_client:
            self.fields["oauth_profile"] = forms.ModelChoiceField(
                label="OAuth profile", queryset=profiles, required=False, empty_label="The app's default profile",
                help_text="The client id and secret Splice uses with this app.",
            )

    def clean(self):
        data = super().clean()
        project, name = data.get("project"), (data.get("name") or "").strip()
        if project and name and Connection.objects.filter(project=project, name__iexact=name,
                                                          owner__isnull=True).exists():
            self.add_error("name", "A connection with this name already exists in this project.")
        self.check_settings(loopback=self.loopback)
        return data


class CredentialsForm(SpecSettingsMixin, forms.Form):
    """Step 3 for Basic and API-key methods: the credentials, checked by the connector's test."""

    def __init__(self, *args, spec: ConnectorSpec, method_key: str, keep_blank: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.spec, self.method_key = spec, method_key
        for field in spec.auth_method(method_key).credential_fields:
            if field.secret:
                self.fields[field.name] = forms.CharField(
                    label=field.label, required=not keep_blank,
                    help_text=field.help or ("Leave blank to keep the current value." if keep_blank else ""),
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                    max_length=SECRET_MAX_LENGTH,
                )
            else:
                self.fields[field.name] = forms.CharField(label=field.label, help_text=field.help,
                                                          required=not keep_blank, max_length=255)
        for name, secret in spec.secret_fields_for(method_key).items():
            self.fields[SECRET_PREFIX + name] = forms.CharField(
                label=secret.label, help_text=secret.help, required=secret.required and not keep_blank,
                widget=forms.PasswordInput(render_value=False), max_length=SECRET_MAX_LENGTH,
            )

    def credentials(self) -> dict:
        names = {f.name for f in self.spec.auth_method(self.method_key).credential_fields}
        return {name: value for name, value in self.cleaned_data.items() if name in names and value}


class EditConnectionForm(SpecSettingsMixin, forms.Form):
    """Name, description, tags and settings; new credentials are optional and tested before they replace."""

    name = forms.CharField(label="Connection name", max_length=120)
    description = forms.CharField(label="Description", required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                  max_length=DESCRIPTION_MAX_LENGTH)
    tags = forms.CharField(label="Tags", required=False, help_text="Comma-separated, e.g. sales, finance.",
                           max_length=MAX_TAGS * (TAG_MAX_LENGTH + 2))

    def __init__(self, *args, connection: Connection, spec: ConnectorSpec, loopback=False, **kwargs):
        initial = {"name": connection.name, "description": connection.description,
                   "tags": ", ".join(connection.tags or [])}
        initial |= {SETTING_PREFIX + k: v for k, v in (connection.settings or {}).items()}
        super().__init__(*args, initial=initial, **kwargs)
        self.connection, self.spec, self.method_key, self.loopback = connection, spec, connection.auth_method, loopback
        self.add_setting_fields(secret_required=False)
        method = spec.auth_method(connection.auth_method)
        for field in method.credential_fields:
            if field.secret:
                self.fields[field.name] = forms.CharField(
                    label=f"New {field.label.lower()}", required=False,
                    help_text="Leave blank to keep the current one. A new value is tested before it is saved.",
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                    max_length=SECRET_MAX_LENGTH,
                )
            else:
                self.fields[field.name] = forms.CharField(label=field.label, required=False, max_length=255,
                                                          initial=getattr(connection, field.name, ""))

    def clean_tags(self) -> list[str]:
        tags = list(dict.fromkeys(t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()))
        if len(tags) > MAX_TAGS or any(len(tag) > TAG_MAX_LENGTH for tag in tags):
            raise ValidationError(f"At most {MAX_TAGS} tags of at most {TAG_MAX_LENGTH} characters each.")
        return tags

    def clean(self):
        data = super().clean()
        name = (data.get("name") or "").strip()
        duplicate = Connection.objects.filter(project=self.connection.project, name__iexact=name, owner__isnull=True)
        if name and duplicate.exclude(pk=self.connection.pk).exists():
            self.add_error("name", "A connection with this name already exists in this project.")
        self.check_settings(loopback=self.loopback)
        return data

    def new_credentials(self) -> dict:
        """Credentials the user typed; a username alone counts only with a new password."""
        method = self.spec.auth_method(self.method_key)
        typed = {f.name: self.cleaned_data[f.name] for f in method.credential_fields if self.cleaned_data.get(f.name)}
        secrets_typed = any(f.secret and f.name in typed for f in method.credential_fields)
        if not secrets_typed:
            changed_username = typed.get("username") and typed["username"] != self.connection.username
            if not changed_username:
                return {}
        return typed


def oauth_profiles_for(spec: ConnectorSpec):
    return OAuthProfile.objects.filter(connector_key=spec.primary_key).order_by("name")


def validation_error_to_form(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's ValidationError (per-field dict or plain) on the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)
