from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Workspaces and accounts"

    def ready(self) -> None:
        # Connects the login signal that stamps a session's epoch (removed members' sessions
        # end on their next request) before any request or test login happens.
        from accounts import zone_middleware  # noqa: F401
