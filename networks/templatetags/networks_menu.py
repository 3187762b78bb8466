"""`{% networks_connect_menus as menus %}`: the registered networks' boxes for the accounts
page's connect menu (templates/networks/<name>/connect_menu.html), in registry order. A
network without such a template has no box. `{% network_connect_url name as url %}`: the
network's connect page, where an account that needs reconnecting is connected again.
`{% network_chip name %}`: the network's icon and name in its colours (composer, calendar,
accounts). Read by the template, so the accounts app's views need not import networks."""

from django import template
from django.template.loader import select_template
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

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
    """/connect/<name>/ (its `<name>_connect` URL), or "" for a network without a connect
    flow (the sandbox, the webhook: added from the accounts page itself)."""
    listing = registry.NETWORKS.get(name)
    if listing is None or not listing.urls:
        return ""
    try:
        return reverse(f"{name}_connect")
    except NoReverseMatch:
        return ""


@register.simple_tag
def network_chip(name: str, label: str = "") -> str:
    """<span class="provider provider-<name>">: its icon letters (hidden from screen readers,
    which read the name) and its name; `label` replaces the registry's short name (the
    composer adds a Mastodon instance)."""
    return format_html(
        '<span class="provider provider-{}"><span class="net-mark" aria-hidden="true">{}</span>'
        "{}</span>",
        name,
        registry.mark(name),
        label or registry.short_name(name),
    )
