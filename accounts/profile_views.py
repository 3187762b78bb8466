"""The person's own page (/profile/): their display zone, and the way to their API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts import services
from accounts.forms import ProfileForm
from accounts.views import workspace_view


# A viewer may change their own profile: it is not the workspace's data.
@workspace_view(viewers_may_post=True)
def profile(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            zone = form.cleaned_data["timezone"]
            services.profile_set_timezone(user_id=request.user.pk, timezone_name=zone)
            messages.success(request, f"Times are now shown in {zone}.")
            return redirect("profile")
    else:
        form = ProfileForm(initial={"timezone": request.display_tz})
    return render(
        request, "accounts/profile.html", {"form": form}, status=400 if form.errors else 200
    )
