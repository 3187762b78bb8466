"""Check the credentials of connected accounts with their networks (X: GET /2/users/me).

    manage.py check_accounts              # every active or needs-reconnect account
    manage.py check_accounts --account 7  # one account

Each account gets `last_checked_at`; a check that passes makes it active again (and clears
the "owner was told" mark, so a later incident is reported again); refused credentials mark
it needs_reconnect and tell the owner once per incident; any other failure (X down, rate
limited) is recorded in `last_error` and leaves the status alone. One line per account; the
command exits non-zero when any check failed.
"""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import SocialAccount
from accounts.services import account_mark_needs_reconnect
from networks import AuthFailed, ProviderError, get_provider

log = logging.getLogger(__name__)

CHECKED_STATUSES = (SocialAccount.Status.ACTIVE, SocialAccount.Status.NEEDS_RECONNECT)


class Command(BaseCommand):
    help = "Check connected accounts' credentials; exit non-zero if any check fails."

    def add_arguments(self, parser):
        parser.add_argument(
            "--account",
            metavar="ID",
            help="Check only the account with this id (any status except disabled).",
        )

    def handle(self, *args, **options):
        accounts = self._accounts(options.get("account"))
        if not accounts:
            self.stdout.write("No accounts to check.")
            return
        failed = 0
        for account in accounts:
            ok, line = self._check(account)
            failed += not ok
            (self.stdout if ok else self.stderr).write(line)
        summary = f"{len(accounts) - failed} of {len(accounts)} account(s) passed the check."
        if failed:
            raise CommandError(f"{summary} {failed} failed.")
        self.stdout.write(self.style.SUCCESS(summary))

    def _accounts(self, account_id: str | None) -> list[SocialAccount]:
        queryset = SocialAccount.objects.select_related("workspace").order_by("id")
        if account_id is None:
            return list(queryset.filter(status__in=CHECKED_STATUSES))
        if not str(account_id).isdigit():
            raise CommandError(f"--account takes an account id (a number), not {account_id!r}.")
        account = queryset.filter(id=int(account_id)).first()
        if account is None:
            raise CommandError(f"There is no account with id {account_id}.")
        if account.status == SocialAccount.Status.DISABLED:
            raise CommandError(f"Account {account_id} ({account}) is disabled: enable it first.")
        return [account]

    def _check(self, account: SocialAccount) -> tuple[bool, str]:
        label = f"#{account.id} {account} [{account.workspace.slug}]"
        now = timezone.now()
        try:
            summary = get_provider(account.provider).check(account)
        except AuthFailed as exc:
            account_mark_needs_reconnect(account=account, error=exc.message, now=now)
            return False, f"FAIL  {label}: needs reconnect — {exc.message}"
        except ProviderError as exc:
            SocialAccount.objects.filter(id=account.id).update(
                last_checked_at=now, last_error=exc.message
            )
            return False, f"FAIL  {label}: {exc.message}"
        except Exception as exc:  # one broken account must not stop the others
            log.exception("Checking account %s failed unexpectedly", account.id)
            message = f"Unexpected error while checking ({exc.__class__.__name__})."
            SocialAccount.objects.filter(id=account.id).update(
                last_checked_at=now, last_error=message
            )
            return False, f"ERROR {label}: {message}"
        # Only an account still active or awaiting reconnect comes back to active: one that
        # was disabled meanwhile stays disabled.
        SocialAccount.objects.filter(id=account.id, status__in=CHECKED_STATUSES).update(
            status=SocialAccount.Status.ACTIVE,
            last_checked_at=now,
            last_error="",
            reconnect_notified_at=None,
        )
        was = (
            " (was needs reconnect: active again)"
            if account.status != SocialAccount.Status.ACTIVE
            else ""
        )
        return True, f"OK    {label}: {summary}{was}"
