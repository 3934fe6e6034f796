"""Recipe pages."""

from django.core.paginator import Paginator
from django.shortcuts import render

from accounts.access import privilege_required
from recipes.selectors import recipes_for_user


@privilege_required("recipes.view_recipe")
def recipe_list(request):
    recipes = recipes_for_user(request.user).select_related("project")
    page = Paginator(recipes, 50).get_page(request.GET.get("page"))
    return render(request, "recipes/recipe_list.html", {"page": page})
