"""`{% networks_connect_menus as menus %}`: the registered networks' boxes for the accounts
page's connect menu (templates/networks/<name>/connect_menu.html), in registry order. A
network without such a template has no box. Read by the template, so the accounts app's
views need not import networks."""

from django import template
from django.template.loader import select_template

from networks import registry

register = template.Library()


@register.simple_tag
def networks_connect_menus() -> list[str]:
    found = []
    for name in registry.connect_menus():
        try:
            select_template([name])
        except template.TemplateDoesNotExist:
            continue
        found.append(name)
    return found
