"""Short links that count clicks (issue 31): one row per link of a delivery's text, made when
the delivery is made (publishing/claim.py), and its clicks counted per day.

The target is stored when the link is made and the code maps to exactly that one row: a
code can never be made to point anywhere the post did not hold (no open redirect). No
client address is stored anywhere: a click is a count per day, referrer host and browser
family."""

from __future__ import annotations

from django.db import models


class AgentFamily(models.TextChoices):
    """A tiny user-agent classification (links/agents.py). Bots are never counted."""

    EDGE = "edge", "Edge"
    OPERA = "opera", "Opera"
    CHROME = "chrome", "Chrome"
    FIREFOX = "firefox", "Firefox"
    SAFARI = "safari", "Safari"
    OTHER = "other", "Other"


class ShortLink(models.Model):
    code = models.CharField(max_length=32, unique=True)
    # The original address with the channel's UTM parameters: the only place it redirects.
    target = models.TextField()
    post = models.ForeignKey("posts.Post", on_delete=models.CASCADE, related_name="short_links")
    # By name: links sits below publishing (publishing calls it when it makes deliveries),
    # so it never imports publishing; the foreign key needs no import.
    delivery = models.ForeignKey(
        "publishing.Delivery", on_delete=models.CASCADE, related_name="short_links"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.code


class ClickDay(models.Model):
    """Clicks on one short link in one UTC day from one referrer host and browser family."""

    link = models.ForeignKey(ShortLink, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    referrer_host = models.CharField(max_length=255, blank=True)
    agent = models.CharField(max_length=16, choices=AgentFamily.choices)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["link", "day", "referrer_host", "agent"], name="clickday_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.link_id} {self.day}: {self.count}"
