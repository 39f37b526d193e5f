"""Top-level URL map: pages, the REST API, its schema and docs."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from controlpanel import account_views, views

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", account_views.TokenListView.as_view(), name="token-list"),
    path(
        "account/tokens/<int:pk>/revoke/",
        account_views.TokenRevokeView.as_view(),
        name="token-revoke",
    ),
    path("users/", account_views.UserListView.as_view(), name="user-list"),
    path("users/<int:pk>/", account_views.UserEditView.as_view(), name="user-edit"),
    path("audit/", account_views.AuditListView.as_view(), name="audit-list"),
    path("", include("clusters.urls")),
    path("", include("workloads.urls")),
    path("admin/", admin.site.urls),
    path("api/", include(("controlpanel.api.urls", "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
