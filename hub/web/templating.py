"""The one Jinja environment of the hub's pages (back office, fleet and catalogue): the templates under
``templates/``, the filters of :mod:`hub.web.filters`, the words of :mod:`hub.web.text`, the frame of
:func:`hub.web.chrome.chrome`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from hub.web import filters, text
from hub.web.chrome import chrome

__all__ = ["TEMPLATES", "environment", "template_config"]

TEMPLATES = Path(__file__).with_name("templates")


@cache
def environment() -> Environment:
    """Autoescaped; block tags take their line with them (``trim_blocks``, ``lstrip_blocks``)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters.install(env)
    env.globals.update(text.template_globals())
    env.globals["chrome"] = chrome
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """For ``Litestar(template_config=…)``: pages answer with ``Template(name, context=…)``."""
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))
