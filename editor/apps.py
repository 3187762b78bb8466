"""The post editor: composing a post (editor.services validates a text against every
network the post will reach, then creates, queues or pins it) and the pages, API,
serializers and forms around it. The model, images and media stay in posts."""

from __future__ import annotations

from django.apps import AppConfig


class EditorConfig(AppConfig):
    name = "editor"
    verbose_name = "Post editor"
