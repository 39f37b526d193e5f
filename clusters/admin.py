from django.contrib import admin

from clusters.models import Cluster, Credential


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    """Secrets are masked: the ciphertext column is never shown or editable here."""

    list_display = ["name", "kind", "server", "test_status", "tested_at"]
    list_filter = ["kind", "test_status"]
    exclude = ["secret_data"]
    readonly_fields = ["secret", "server", "test_status", "test_message", "tested_at"]

    @admin.display(description="Secret")
    def secret(self, obj):
        return "•••••••• (encrypted; change it in the panel)" if obj.secret_data else "—"


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "status", "version", "checked_at"]
    list_filter = ["kind", "status"]
    # The Pod Security level changes only through the panel, where it is checked and audited.
    readonly_fields = [
        "status", "version", "last_error", "checked_at", "nodes", "namespaces",
        "pod_security_level", "pod_security_exemptions",
    ]  # fmt: skip
