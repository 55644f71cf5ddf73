"""v6 ``gateway_download``: gone in v7; the proxy answers reads with nothing and writes with 401."""

from translators import LocalResource, Translator

TRANSLATORS = [
    Translator(
        resource="gateway_download",
        read_only=True,
        migration="gateway_download was removed in v7 (it was always empty): stop reading it.",
        metadata_after="release_tag",
        local=LocalResource(
            fields={
                "created_at": "Date Time",
                "modified_at": "Date Time",
                "id": "Serial",
                "status": "Short Text",
                "download_progress": "Integer | null",
            },
            navigation={
                "image": "image",
                "is_downloaded_by__device": "device",
                "device": "device",
                "downloads__image": "image",
            },
            key_order=(
                "created_at",
                "modified_at",
                "image",
                "is_downloaded_by__device",
                "id",
                "status",
                "download_progress",
            ),
            aliases=("image__is_downloaded_by__device",),
        ),
    )
]
