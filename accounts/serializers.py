"""API representations of workspaces and social accounts (credentials are never exposed)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.api_scoping import roles_for
from accounts.models import SocialAccount, Workspace


class WorkspaceSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(
        help_text="Your role: owner, editor, approver or viewer."
    )

    class Meta:
        model = Workspace
        fields = ["id", "name", "slug", "role", "created_at"]
        read_only_fields = fields

    def get_role(self, obj: Workspace) -> str:
        return roles_for(self.context["request"]).get(obj.id, "")


class SocialAccountSummarySerializer(serializers.ModelSerializer):
    """An account as other resources show it (no credentials, no error details)."""

    class Meta:
        model = SocialAccount
        fields = ["id", "provider", "handle", "status"]
        read_only_fields = fields


class SocialAccountSerializer(serializers.ModelSerializer):
    workspace = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = SocialAccount
        fields = [
            "id",
            "workspace",
            "provider",
            "handle",
            "external_id",
            "status",
            "last_checked_at",
            "last_error",
            "created_at",
        ]
        read_only_fields = fields
