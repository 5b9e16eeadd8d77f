"""Recipes run end to end into readable reports: `run_recipe(load_recipe(path), data_dir, out_dir)`."""

from tinycim.pipeline.recipe import Recipe, load_recipe, recipe_from_dict
from tinycim.pipeline.report import write_report
from tinycim.pipeline.runner import run_recipe

__all__ = ["Recipe", "load_recipe", "recipe_from_dict", "run_recipe", "write_report"]
