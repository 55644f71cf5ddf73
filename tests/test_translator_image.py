"""translators.image: image_size as the number JavaScript produced; gateway navigations empty."""

from translator_helpers import v7

from translators.coercions import js_integer


def test_js_integer():
    assert js_integer("9223372036854775807") == 9223372036854776000
    assert js_integer("9007199254741001") == 9007199254741000
    assert js_integer("1234") == 1234 and js_integer(None) is None and js_integer(12) == 12


def test_gateway_navigations_are_empty_without_asking():
    assert v7("/image?$select=id&$expand=is_downloaded_by__device,gateway_download/$count") == "/image?$select=id"
    assert (
        v7("/image?$select=id&$filter=image__is_downloaded_by__device/any(g:g/id eq 1)")
        == "/image?$select=id&$filter=false"
    )
