"""An object's workspace never changes once something links to it (DESIGN §2, invariant 4).

A post that is queued or pinned, an account that is in a channel or has deliveries, a
channel with a queue, schedules or slots: moving one of those to another workspace would
leave the links pointing across the boundary (another workspace's channel publishing it,
signed with its secret), so the model refuses the change in clean(), which every ModelForm
(the admin included) runs before saving. The admin also shows the field read-only then.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError


class WorkspacePinnedOnceLinked:
    """Mixin for a model with a `workspace` foreign key; list the reverse relations whose
    rows pin it in `workspace_links`."""

    workspace_links: tuple[str, ...] = ()

    def workspace_is_pinned(self) -> bool:
        if self.pk is None:
            return False
        return any(getattr(self, name).exists() for name in self.workspace_links)

    def workspace_move_error(self) -> str | None:
        """Why the workspace may not change to the one set on this instance (None: it may)."""
        if self.pk is None:
            return None
        stored = (
            type(self)._default_manager.filter(pk=self.pk).values_list("workspace_id", flat=True)
        ).first()
        if stored is None or stored == self.workspace_id or not self.workspace_is_pinned():
            return None
        label = self._meta.verbose_name
        return (
            f"This {label} is linked to channels, slots or deliveries of its workspace, so it "
            "cannot move to another workspace. Create a new one there instead."
        )

    def clean(self) -> None:
        super().clean()
        if error := self.workspace_move_error():
            raise ValidationError({"workspace": error})
