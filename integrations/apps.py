from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Outbound events (issue 29): a workspace's endpoints, the per-endpoint deliveries of
    the events the lower apps record in their transactions (accounts.outbox), the signed
    sends with retries, and the pages and API to manage them. It sits above `bulk` (every
    emitter is below it) and below `ops`."""

    name = "integrations"
    verbose_name = "Integrations (outbound events)"

    def ready(self) -> None:
        from accounts import outbox
        from integrations.sending import workspaces_listening

        # The emitters below record an event only for a workspace with an active endpoint.
        outbox.listeners_set(workspaces_listening)
