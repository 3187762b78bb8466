"""Logged-out pages that send email: password reset and the self-service login unlock.

Both answer the same whether or not the account exists (no account enumeration), send at
most one email of their kind per account per ACCOUNT_EMAIL_INTERVAL, and refuse beyond
ACCOUNT_EMAIL_ADDRESS_LIMIT requests per client address: 20 requests for a victim's
address used to send 20 emails. A server that cannot send email says so on the page
instead of pretending (ground.mail). The emails themselves are sent by Celery tasks after
the request's transaction commits, never inside the request (accounts.account_mail).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from accounts import account_mail, auth
from ground.mail import CANNOT_SEND, email_can_send


def _origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


class ThrottledPasswordResetForm(PasswordResetForm):
    def get_users(self, email):
        for user in super().get_users(email):
            if auth.account_email_allowed(user=user, kind="password-reset"):
                yield user

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs):
        """Queue the email instead of sending it here, in the request: the task makes the
        link afresh (accounts.account_mail), so the token never sits in the broker."""
        account_mail.email_later(
            task=account_mail.RESET_TASK,
            user_id=context["user"].pk,
            origin=f"{context['protocol']}://{context['domain']}",
        )


class PasswordResetView(auth_views.PasswordResetView):
    form_class = ThrottledPasswordResetForm
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cannot_send"] = "" if email_can_send() else CANNOT_SEND
        return context

    def post(self, request, *args, **kwargs):
        if not email_can_send():
            return self.render_to_response(self.get_context_data(form=self.get_form()), status=503)
        if not auth.address_email_requests_allowed(request):
            context = self.get_context_data(form=self.get_form())
            context["throttled"] = auth.too_many_requests_message()
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)


class UnlockRequestForm(forms.Form):
    username = forms.CharField(label="Username", max_length=150)


def _send_unlock_email(request: HttpRequest, username: str) -> None:
    """Only to an active account with an email that is locked from this address now."""
    User = get_user_model()
    user = User.objects.filter(**{User.USERNAME_FIELD: username}, is_active=True).first()
    if user is None or not getattr(user, "email", ""):
        return
    if not auth.login_locked(request, username=username):
        return
    if not auth.account_email_allowed(user=user, kind="unlock"):
        return
    account_mail.email_later(
        task=account_mail.UNLOCK_TASK, user_id=user.pk, origin=_origin(request)
    )


@never_cache
@csrf_protect
def unlock_request(request: HttpRequest) -> HttpResponse:
    form = UnlockRequestForm(request.POST if request.method == "POST" else None)
    context = {"form": form, "cannot_send": "" if email_can_send() else CANNOT_SEND}
    status = 200
    if request.method == "POST":
        if not email_can_send():
            status = 503
        elif not auth.address_email_requests_allowed(request):
            context["throttled"] = auth.too_many_requests_message()
            status = 429
        elif form.is_valid():
            _send_unlock_email(request, form.cleaned_data["username"])
            return redirect("login_unlock_sent")
        else:
            status = 400
    return render(request, "registration/unlock_request.html", context, status=status)


def unlock_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/unlock_sent.html")


@never_cache
@csrf_protect
def unlock(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (mail scanners open links: opening must not spend it); POST unlocks."""
    if request.method == "POST":
        user = auth.unlock_link_use(token=token, ip=auth.client_ip(request))
        if user is not None:
            messages.success(request, "Unlocked: you can log in again from this address.")
            return redirect("login")
        return render(request, "registration/unlock_confirm.html", {"valid": False}, status=400)
    valid = auth.unlock_link_valid(token=token)
    return render(
        request, "registration/unlock_confirm.html", {"valid": valid}, status=200 if valid else 400
    )
