"""`{% networks_connect_menus as menus %}`: the registered networks' boxes for the accounts
page's connect menu (templates/networks/<name>/connect_menu.html), in registry order. A
network without such a template has no box. `{% network_connect_url account.provider as url %}`:
where an account of that network is connected again (its `<name>_connect` page; "" when it
has none), for the accounts page's "Reconnect". Read by the template, so the accounts app's
views need not import networks."""

from django import template
from django.template.loader import select_template
from django.urls import NoReverseMatch, reverse

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


@register.simple_tag
def network_connect_url(name: str) -> str:
    listing = registry.NETWORKS.get(name)
    if listing is None or not listing.urls:
        return ""
    try:
        return reverse(f"{name}_connect")
    except NoReverseMatch:
        return ""
