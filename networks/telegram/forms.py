"""The Telegram connect form: it only checks the input's shape; networks/telegram/views.py
asks Telegram whether the bot may post there, and accounts.services stores the account."""

from __future__ import annotations

import re

from django import forms

# BotFather's tokens: the bot's numeric id, a colon, then a 35-character secret.
TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{20,100}")
# A public chat's username (5-32 characters: letters, digits, underscores) or a numeric id
# (a channel's or supergroup's starts with -100).
USERNAME = re.compile(r"@?([A-Za-z][A-Za-z0-9_]{3,31})")
CHAT_ID = re.compile(r"-?\d{1,20}")
LINK = re.compile(r"(?:https?://)?(?:t\.me|telegram\.me)/([A-Za-z][A-Za-z0-9_]{3,31})/?")


class TelegramConnectForm(forms.Form):
    # Never rendered back: tokens are write-only in the UI.
    bot_token = forms.CharField(
        label="Bot token",
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="From @BotFather (/newbot or /token), such as 123456789:AAE…",
    )
    chat = forms.CharField(
        label="Channel or group",
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "@mychannel", "autocomplete": "off"}),
        help_text=(
            "A public channel's or group's @name (or its t.me link), or a private one's "
            "numeric id (such as -1001234567890). Add the bot there as an administrator "
            "that may post messages first."
        ),
    )

    def clean_bot_token(self) -> str:
        token = self.cleaned_data["bot_token"].strip()
        if not TOKEN.fullmatch(token):
            raise forms.ValidationError(
                "This does not look like a bot token: @BotFather gives one such as "
                "123456789:AAE… (digits, a colon, then letters, digits, - and _)."
            )
        return token

    def clean_chat(self) -> str:
        chat = self.cleaned_data["chat"].strip()
        if CHAT_ID.fullmatch(chat):
            return chat
        if match := LINK.fullmatch(chat) or USERNAME.fullmatch(chat):
            return f"@{match.group(1)}"
        raise forms.ValidationError(
            "Enter the channel's @name (5-32 letters, digits or underscores), its t.me link, "
            "or its numeric id."
        )
