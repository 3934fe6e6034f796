"""Forms for custom connectors (in Splice and in Django admin) and OAuth profiles (Django admin).

They validate with the catalog loader through `connections.custom` and save through services; each
spec problem becomes its own error line, worded exactly as the loader words it.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from connections.catalog import SpecError, registry
from connections.catalog.loader import MAX_SPEC_BYTES
from connections.custom import custom_connector_check, custom_connector_save, ensure_custom_connectors_loaded
from connections.models import CustomConnector, OAuthProfile
from connections.secrets import Secret

__all__ = ["CustomConnectorAdminForm", "CustomConnectorForm", "OAuthProfileAdminForm", "spec_errors"]


def spec_errors(exc: SpecError) -> list[ValidationError]:
    """One error per problem, as ``custom:acme: auth.0.token_url: Field required``."""
    return [ValidationError(str(problem), code="spec") for problem in exc.problems]


class CustomConnectorForm(forms.Form):
    """Upload a YAML file or paste a spec: a new custom connector, or a new version of ``connector``."""

    spec_file = forms.FileField(
        label="Upload a YAML file", required=False,
        help_text=f"A .yaml or .yml file of at most {MAX_SPEC_BYTES // 1024} KiB. If you choose a file, it is used "
                  "instead of the text below.",
        widget=forms.ClearableFileInput(attrs={"accept": ".yaml,.yml,application/yaml,text/yaml"}),
    )
    yaml_text = forms.CharField(
        label="Or paste the YAML spec", required=False, strip=False, max_length=MAX_SPEC_BYTES,
        error_messages={"max_length": f"The spec is larger than {MAX_SPEC_BYTES // 1024} KiB."},
        help_text="The format is described in docs/connectors.md.",
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false", "autocapitalize": "off",
                                     "class": "code"}),
    )
    note = forms.CharField(label="Note for the history (optional)", required=False, max_length=200,
                           help_text="Why you changed it. Splice adds a summary of what changed.")

    def __init__(self, *args, connector: CustomConnector | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.connector = connector
        self.spec = None
        if connector is not None and not self.is_bound:
            self.initial.setdefault("yaml_text", connector.yaml)

    def clean_spec_file(self):
        upload = self.cleaned_data.get("spec_file")
        if not upload:
            return None
        if upload.size > MAX_SPEC_BYTES:
            raise ValidationError(f"The file is larger than {MAX_SPEC_BYTES // 1024} KiB.", code="too_large")
        try:
            text = upload.read(MAX_SPEC_BYTES + 1).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError("The file is not UTF-8 text.", code="encoding") from None
        # Shown in the text box if the spec has problems, so they can be fixed in place.
        self.data = self.data.copy()
        self.data[self.add_prefix("yaml_text")] = text
        return text

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        text = cleaned.get("spec_file") or cleaned.get("yaml_text") or ""
        if not text.strip():
            raise ValidationError("Upload a YAML file or paste the spec.", code="required")
        cleaned["text"] = text
        try:
            self.spec = custom_connector_check(yaml_text=text, connector=self.connector)
        except SpecError as exc:
            self.add_error("yaml_text", spec_errors(exc))
        return cleaned

    def save(self, *, acting_user) -> CustomConnector | None:
        """Save through the service; None (with the problems added to the form) if it refused."""
        try:
            return custom_connector_save(yaml_text=self.cleaned_data["text"], acting_user=acting_user,
                                         connector=self.connector, note=self.cleaned_data.get("note", ""))
        except SpecError as exc:
            self.add_error("yaml_text", spec_errors(exc))
            return None


class CustomConnectorAdminForm(forms.ModelForm):
    """Django admin's form: the same validation as the upload form, the problems shown under the YAML."""

    note = forms.CharField(label="Note for the history", required=False, max_length=200,
                           help_text="Optional. Splice adds a summary of what changed.")

    class Meta:
        model = CustomConnector
        fields = ["yaml", "enabled"]
        widgets = {"yaml": forms.Textarea(attrs={"rows": 30, "cols": 100, "spellcheck": "false",
                                                 "class": "code"})}

    class Media:
        css = {"all": ["css/admin.css"]}  # a style="" attribute would be blocked by the Content Security Policy

    def clean_yaml(self):
        return self.cleaned_data["yaml"].replace("\r\n", "\n")

    def clean(self):
        cleaned = super().clean()
        text = cleaned.get("yaml")
        if text:
            try:
                custom_connector_check(yaml_text=text, connector=self.instance if self.instance.pk else None)
            except SpecError as exc:
                self.add_error("yaml", spec_errors(exc))
        return cleaned


def _oauth_app_choices() -> list[tuple[str, str]]:
    ensure_custom_connectors_loaded()
    return [(spec.key, f"{spec.name} ({spec.key})") for spec in registry().all() if spec.has_oauth]


class OAuthProfileAdminForm(forms.ModelForm):
    """An OAuth profile in admin. The client secret is write-only: typed in, sealed, never rendered back."""

    connector_key = forms.ChoiceField(label="App", help_text="Connectors that use OAuth 1.0a or 2.0.")
    new_client_secret = forms.CharField(
        label="Client secret", required=False, strip=True, max_length=8192,  # an RSA private key fits
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: it is encrypted and never shown again. Leave blank to keep the current secret.",
    )
    make_default = forms.BooleanField(label="Default for this app", required=False,
                                      help_text="New connections of this app use it unless they pick another.")
    endpoint_lines = forms.CharField(
        label="Endpoints", required=False, max_length=8192, widget=forms.Textarea(attrs={"rows": 4, "class": "code"}),
        help_text="The app's OAuth endpoints this client was registered for, one URL a line; Splice sends the "
                  "client secret to no other. {name} stands for one part of a host name or path "
                  "(https://{subdomain}.zendesk.com/oauth/tokens). Leave empty on a new profile for the endpoints "
                  "the app's spec fixes.",
    )

    class Meta:
        model = OAuthProfile
        fields = ["name", "connector_key", "client_id", "client_secret_expires_at"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        profile = self.instance
        choices = _oauth_app_choices()
        if profile.pk and profile.connector_key not in dict(choices):
            choices.append((profile.connector_key, profile.connector_key))
        self.fields["connector_key"].choices = [("", "---------"), *choices]
        self.fields["make_default"].initial = profile.is_default if profile.pk else True
        self.fields["endpoint_lines"].initial = "\n".join(profile.endpoints or [])
        if not profile.pk:
            self.fields["new_client_secret"].help_text = "Write-only: it is encrypted and never shown again."
            self.fields["new_client_secret"].required = True
            return
        # Connections that use the profile belong to its app: the app cannot change.
        self.fields["connector_key"].disabled = True
        self.fields["connector_key"].help_text = "Fixed: the connections that use this profile belong to this app."
        if profile.from_environment:
            variables = f"SPLICE_OAUTH_{profile.connector_key.upper()}_CLIENT_ID/SECRET"
            for name in ("name", "client_id", "new_client_secret"):
                self.fields[name].disabled = True
                self.fields[name].help_text = f"Set from {variables}: change the environment variables instead."

    def clean_endpoint_lines(self) -> str:
        from connections.services import clean_endpoints

        try:
            clean_endpoints(self.cleaned_data["endpoint_lines"].splitlines())
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["endpoints"]) from None
        return self.cleaned_data["endpoint_lines"]

    def endpoints(self) -> list[str] | None:
        """The endpoints typed, one a line; None on a new profile left empty (the spec's then)."""
        lines = [line.strip() for line in self.cleaned_data.get("endpoint_lines", "").splitlines() if line.strip()]
        return lines if lines or self.instance.pk else None

    @property
    def client_secret(self) -> Secret | None:
        value = self.cleaned_data.get("new_client_secret")
        return Secret(value) if value else None
