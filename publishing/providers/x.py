"""X (Twitter). Length is X's weighted count (twitter-text v3 rules).

Publishing through tweepy is implemented with the publishing issue; until then a delivery
to an X account fails with a clear reason instead of pretending.
"""

from __future__ import annotations

from twitter_text import parse_tweet

from publishing.providers import Rejected


class XProvider:
    name = "x"
    max_length = 280
    idempotent = False

    def text_length(self, text: str) -> int:
        return parse_tweet(text).weightedLength

    def validate(self, text: str) -> list[str]:
        if not text.strip():
            return ["The text is empty."]
        result = parse_tweet(text)
        if not result.valid:
            return [
                f"X counts this text as {result.weightedLength} characters; the limit is "
                f"{self.max_length}."
            ]
        return []

    def publish(self, delivery):
        raise Rejected("Publishing to X is not available in this build yet.")

    def check(self, account) -> str:
        raise Rejected("Checking X accounts is not available in this build yet.")


provider = XProvider()
