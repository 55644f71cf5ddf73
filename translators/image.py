"""v6 ``image``: ``image_size`` as a number, gateway-download navigations always empty."""

from __future__ import annotations

from translators import Coerce, EmptyNavigation, Translator
from translators.coercions import js_integer

TRANSLATORS = [
    Translator(
        resource="image",
        rules=(
            Coerce("image_size", "Numeric Big Integer | null", to_v6=js_integer),
            EmptyNavigation("is_downloaded_by__device", "gateway_download"),
            EmptyNavigation("image__is_downloaded_by__device", "gateway_download"),
            EmptyNavigation("gateway_download", "gateway_download"),
        ),
    )
]
