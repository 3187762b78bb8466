from django.apps import AppConfig


class NetworksConfig(AppConfig):
    name = "networks"
    verbose_name = "Networks"

    def ready(self) -> None:
        # accounts sits below networks and cannot read the registry: the account's provider
        # choices are handed to it here (accounts.providers).
        from accounts import providers
        from networks import registry

        providers.register(registry.choices)
