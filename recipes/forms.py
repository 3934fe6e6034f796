from django import forms

from accounts.models import Project
from recipes.models import Recipe

DESCRIPTION_MAX_LENGTH = 2000  # the model's TextField has no limit of its own


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

    class Meta:
        model = Recipe
        fields = ["name", "kind", "description"]
        widgets = {"kind": forms.RadioSelect}
        labels = {"name": "Recipe name"}
