"""Pages for personal API tokens, user administration and the audit log; the locked-out log-in."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.views.defaults import page_not_found as html_page_not_found
from rest_framework.exceptions import NotFound

from core import services
from core.api.exceptions import exception_handler
from core.choices import AuditAction, Role
from core.filtersets import AuditEventFilterSet
from core.forms import TokenForm, UserCreateForm, UserEditForm
from core.models import ApiToken, AuditEvent
from core.permissions import RoleRequiredMixin
from core.selectors import login_locked_until, role_of
from core.services import Actor, request_client_address

User = get_user_model()

# Where the REST API lives (wired in controlpanel/urls.py): its clients read JSON, never a page.
API_PREFIX = "/api/"


def page_not_found(request, exception):
    """404 for an address no URL matches. Under the API it is the body DRF gives for a
    missing object, so a client reads every 404 alike, also for an id too long to be one
    (`/api/runs/9223372036854775808/`) or a mistyped endpoint; pages keep the styled page."""
    if request.path_info.startswith(API_PREFIX):
        answer = exception_handler(NotFound(), {})
        return JsonResponse(answer.data, status=answer.status_code)
    return html_page_not_found(request, exception)


class TokenListView(RoleRequiredMixin, View):
    write_role = Role.VIEWER

    def _render(self, request, form, created=None, status=200):
        tokens = ApiToken.objects.filter(user=request.user)
        return render(
            request,
            "core/tokens.html",
            {"tokens": tokens, "form": form, "created": created},
            status=status,
        )

    def get(self, request):
        return self._render(request, TokenForm())

    def post(self, request):
        form = TokenForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        token, plaintext = services.token_create(
            actor=Actor.from_request(request), user=request.user, name=form.cleaned_data["name"]
        )
        # Rendered directly (not redirected) so the plaintext exists only in this one response.
        return self._render(request, TokenForm(), created={"token": token, "plaintext": plaintext})


class TokenRevokeView(RoleRequiredMixin, View):
    write_role = Role.VIEWER

    def post(self, request, pk: int):
        token = get_object_or_404(ApiToken, pk=pk, user=request.user)
        services.token_revoke(actor=Actor.from_request(request), token=token)
        messages.success(request, f"Revoked token {token.name}.")
        return redirect("token-list")


class UserListView(RoleRequiredMixin, View):
    read_role = Role.ADMIN
    write_role = Role.ADMIN

    def get(self, request):
        users = User.objects.select_related("profile").order_by("username")
        rows = [
            {"user": u, "role": role_of(u) or getattr(getattr(u, "profile", None), "role", "")}
            for u in users
        ]
        return render(request, "core/users.html", {"rows": rows, "form": UserCreateForm()})

    def post(self, request):
        form = UserCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            user = services.user_create(
                actor=Actor.from_request(request),
                username=data["username"],
                email=data["email"],
                password=data["password"] or None,
                role=Role(data["role"]),
            )
            messages.success(request, f"Created user {user.username}.")
            return redirect("user-list")
        users = User.objects.select_related("profile").order_by("username")
        rows = [{"user": u, "role": role_of(u)} for u in users]
        return render(request, "core/users.html", {"rows": rows, "form": form}, status=400)


class UserEditView(RoleRequiredMixin, View):
    read_role = Role.ADMIN
    write_role = Role.ADMIN

    def get(self, request, pk: int):
        user = get_object_or_404(User.objects.select_related("profile"), pk=pk)
        form = UserEditForm(
            initial={
                "email": user.email,
                "is_active": user.is_active,
                "role": getattr(getattr(user, "profile", None), "role", Role.VIEWER),
            }
        )
        return render(request, "core/user_edit.html", {"subject": user, "form": form})

    def post(self, request, pk: int):
        user = get_object_or_404(User, pk=pk)
        form = UserEditForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.user_update(
                    actor=Actor.from_request(request),
                    user=user,
                    role=Role(data["role"]),
                    is_active=data["is_active"],
                    email=data["email"],
                    password=data["password"] or None,
                )
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                messages.success(request, f"Saved {user.username}.")
                return redirect("user-list")
        return render(request, "core/user_edit.html", {"subject": user, "form": form}, status=400)


class AuditListView(RoleRequiredMixin, View):
    read_role = Role.ADMIN

    def get(self, request):
        filterset = AuditEventFilterSet(request.GET, queryset=AuditEvent.objects.all())
        page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
        return render(
            request,
            "core/audit.html",
            {"page": page, "filterset": filterset, "actions": AuditAction.choices},
        )


def login_locked_out(request, original_response=None, credentials=None):
    """What a locked-out log-in gets (django-axes calls this): the log-in page again, saying
    until when, with 429. Even the right password is refused until then."""
    username = str((credentials or {}).get("username") or request.POST.get("username", ""))
    address = getattr(request, "axes_ip_address", None) or request_client_address(request)
    until = login_locked_until(username=username, ip_address=address)
    form = AuthenticationForm(request, initial={"username": username})
    return render(
        request,
        "registration/login.html",
        {"form": form, "locked_until": until, "next": request.POST.get("next", "")},
        status=429,
    )
