"""API representations of workspaces, members, invitations and social accounts (credentials
are never exposed; an invitation's link is never shown: it exists only in its email)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.api_scoping import roles_for
from accounts.models import Invitation, Membership, SocialAccount, Workspace


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


class MembershipSerializer(serializers.ModelSerializer):
    workspace = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.CharField(source="user.email", read_only=True)
    role = serializers.ChoiceField(choices=Membership.Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "workspace", "username", "email", "role"]
        read_only_fields = ["id", "workspace", "username", "email"]


class InvitationSerializer(serializers.ModelSerializer):
    workspace = serializers.SlugField(
        source="workspace.slug",
        required=False,
        help_text="Workspace slug; may be left out when you own exactly one workspace.",
    )
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    status = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = [
            "id",
            "workspace",
            "email",
            "role",
            "status",
            "created_at",
            "expires_at",
            "email_sent_at",
        ]
        read_only_fields = ["id", "status", "created_at", "expires_at", "email_sent_at"]

    def get_status(self, obj: Invitation) -> str:
        if obj.accepted_at:
            return "accepted"
        if obj.revoked_at:
            return "revoked"
        return "pending" if obj.is_pending() else "expired"
