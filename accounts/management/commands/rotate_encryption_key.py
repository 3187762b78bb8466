"""Re-encrypt every SocialAccount's credentials with the first FIELD_ENCRYPTION_KEY.

Rotating the key, without downtime:

1. put the new key first: FIELD_ENCRYPTION_KEY=<new>,<old> and restart every process
   (web, worker, beat), so they all decrypt with either and encrypt with the new one;
2. run `manage.py rotate_encryption_key`;
3. drop the old key: FIELD_ENCRYPTION_KEY=<new> and restart again.

The command works on the stored ciphertext (MultiFernet.rotate), never through the ORM
field, so the plaintext is never handed to Django. It checks every row first and changes
nothing if any row cannot be decrypted with the configured keys. Each row is rewritten
with a compare-and-swap (`WHERE credentials = <the ciphertext we read>`), so credentials
that the app updated meanwhile (an OAuth refresh, encrypted with the new key already) are
never overwritten with older ones.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from accounts.models import SocialAccount
from ground.fields import fernet

BATCH_SIZE = 500


class Command(BaseCommand):
    help = (
        "Re-encrypt every social account's credentials with the first key of "
        "FIELD_ENCRYPTION_KEY (run after putting a new key first)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check that every row decrypts and count the rows still on an older key; "
            "change nothing.",
        )

    @staticmethod
    def _table_and_column() -> tuple[str, str]:
        qn = connection.ops.quote_name
        return (
            qn(SocialAccount._meta.db_table),
            qn(SocialAccount._meta.get_field("credentials").column),
        )

    def _rows(self) -> list[tuple[int, str]]:
        """(id, stored ciphertext) of every row with credentials, read past the ORM field."""
        table, column = self._table_and_column()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, {column} FROM {table} ORDER BY id")  # noqa: S608
            return [(pk, value) for pk, value in cursor.fetchall() if value]

    def handle(self, *args, dry_run: bool = False, **options):
        keys = settings.FIELD_ENCRYPTION_KEYS
        multi = fernet()
        newest = Fernet(keys[0].encode())

        rows = self._rows()
        undecryptable, on_old_key = [], 0
        for pk, token in rows:
            try:
                multi.decrypt(token.encode())
            except InvalidToken:
                undecryptable.append(pk)
                continue
            try:
                newest.decrypt(token.encode())
            except InvalidToken:
                on_old_key += 1
        if undecryptable:
            shown = ", ".join(str(pk) for pk in undecryptable[:20])
            raise CommandError(
                f"{len(undecryptable)} social account(s) have credentials that none of the "
                f"{len(keys)} key(s) in FIELD_ENCRYPTION_KEY can decrypt (ids: {shown}). "
                "Nothing was changed. Add the key they were encrypted with to "
                "FIELD_ENCRYPTION_KEY (after the new one) and run this again."
            )

        if dry_run:
            self.stdout.write(
                f"{len(rows)} credential row(s) decrypt; {on_old_key} still use an older key. "
                "Nothing changed (dry run)."
            )
            return

        table, column = self._table_and_column()
        sql = f"UPDATE {table} SET {column} = %s WHERE id = %s AND {column} = %s"  # noqa: S608
        rotated = changed_meanwhile = 0
        for start in range(0, len(rows), BATCH_SIZE):
            batch = rows[start : start + BATCH_SIZE]
            with transaction.atomic(), connection.cursor() as cursor:
                for pk, token in batch:
                    new_token = multi.rotate(token.encode()).decode()
                    cursor.execute(sql, [new_token, pk, token])
                    if cursor.rowcount == 1:
                        rotated += 1
                    else:
                        changed_meanwhile += 1

        message = (
            f"Re-encrypted {rotated} credential row(s) with the first key of "
            f"FIELD_ENCRYPTION_KEY ({on_old_key} were on an older key)."
        )
        if changed_meanwhile:
            message += (
                f" {changed_meanwhile} row(s) changed or were deleted while this ran and were "
                "left as the app wrote them: run the command again before dropping a key."
            )
        self.stdout.write(self.style.SUCCESS(message))
        if len(keys) > 1 and not changed_meanwhile:
            self.stdout.write(
                "Every stored credential now uses the first key: the other key(s) can be "
                "removed from FIELD_ENCRYPTION_KEY once every process runs with the new list."
            )
