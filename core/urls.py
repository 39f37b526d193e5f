"""Log-in and out, API tokens, users and the audit log."""

from django.contrib.auth import views as auth_views
from django.urls import path

from core import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", views.TokenListView.as_view(), name="token-list"),
    path("account/tokens/<id:pk>/revoke/", views.TokenRevokeView.as_view(), name="token-revoke"),
    path("users/", views.UserListView.as_view(), name="user-list"),
    path("users/<id:pk>/", views.UserEditView.as_view(), name="user-edit"),
    path("audit/", views.AuditListView.as_view(), name="audit-list"),
]
