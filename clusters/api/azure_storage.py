"""REST endpoints for Azure File shares: create (queued), upload, list and download files."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from clusters.api.azure_serializers import AzureOperationSerializer, azure_credentials
from clusters.azure import services as azure_services
from clusters.azure import storage
from clusters.models import Cluster
from clusters.models_azure import FileShare
from controlpanel.services import Actor

PATH_RE = r"^[^\\:*?\"<>|]{1,1024}$"


class FileShareSerializer(serializers.ModelSerializer):
    credential = serializers.PrimaryKeyRelatedField(queryset=azure_credentials())
    cluster = serializers.PrimaryKeyRelatedField(queryset=Cluster.objects.all())
    account_name = serializers.RegexField(r"^[a-z0-9]{3,24}$")
    share_name = serializers.RegexField(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
    resource_group = serializers.RegexField(r"^[-\w._()]{1,90}$")
    location = serializers.RegexField(r"^[a-z0-9]{2,50}$")
    quota_gb = serializers.IntegerField(min_value=1, max_value=102400, default=100)
    namespace = serializers.CharField(required=False, allow_blank=True, default="")

    class Meta:
        model = FileShare
        fields = [
            "id", "cluster", "credential", "resource_group", "location", "account_name",
            "share_name", "quota_gb", "namespace", "volume", "file_endpoint", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "volume", "file_endpoint", "created_at"]


class UploadSerializer(serializers.Serializer):
    path = serializers.RegexField(PATH_RE, help_text="Destination path in the share, e.g. input/video.mp4")  # fmt: skip
    file = serializers.FileField()


class EntrySerializer(serializers.Serializer):
    name = serializers.CharField()
    is_directory = serializers.BooleanField()
    size = serializers.IntegerField(allow_null=True)


class FileShareViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = FileShare.objects.select_related("cluster").order_by("pk")
    serializer_class = FileShareSerializer

    @extend_schema(summary="Create a storage account + file share and mount it in the cluster", responses={202: OpenApiResponse(AzureOperationSerializer)})  # fmt: skip
    def create(self, request):
        data = FileShareSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            op = azure_services.file_share_create(actor=Actor.from_request(request), **data.validated_data)  # fmt: skip
        except azure_services.AzureInputError as exc:
            raise serializers.ValidationError({exc.field: exc.message}) from exc
        return Response(AzureOperationSerializer(op).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Upload a file into the share", request={"multipart/form-data": UploadSerializer}, responses={201: EntrySerializer})  # fmt: skip
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def upload(self, request, pk=None):
        data = UploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        content = data.validated_data["file"].read()
        storage.upload(self.get_object(), data.validated_data["path"], content)
        entry = {"name": data.validated_data["path"], "is_directory": False, "size": len(content)}
        return Response(entry, status=status.HTTP_201_CREATED)

    @extend_schema(summary="List a directory of the share", parameters=[OpenApiParameter("directory", str)], responses={200: EntrySerializer(many=True)})  # fmt: skip
    @action(detail=True, methods=["get"])
    def files(self, request, pk=None):
        return Response(storage.listing(self.get_object(), request.query_params.get("directory", "")))  # fmt: skip

    @extend_schema(summary="Download a file of the share", parameters=[OpenApiParameter("path", str, required=True)], responses={(200, "application/octet-stream"): bytes})  # fmt: skip
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        path = request.query_params.get("path", "")
        if not path:
            raise serializers.ValidationError({"path": "Give the file's path in the share."})
        data = storage.download(self.get_object(), path)
        response = HttpResponse(data, content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="{path.rsplit("/", 1)[-1]}"'
        return response
