"""Every network's connect flow, each under /connect/<name>/, read from the registry: a
new network's URLs need no line here or in queueloop/urls.py."""

from django.urls import include, path

from networks.registry import NETWORKS

urlpatterns = [
    path(f"connect/{name}/", include(listing.urls))
    for name, listing in NETWORKS.items()
    if listing.urls
]
