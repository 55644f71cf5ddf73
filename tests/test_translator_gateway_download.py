"""translators.gateway_download: answered by the proxy, always empty; writes 401."""

import pytest
from translator_helpers import engine

from proxy.engine.walk import WalkError


def test_reads_are_local_and_empty():
    e = engine()
    assert e.translate("GET", "/gateway_download").local_body == {"d": []}
    assert e.translate("GET", "/image__is_downloaded_by__device/$count").local_body == {"d": 0}


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT", "DELETE"])
def test_writes_are_401(method):
    with pytest.raises(WalkError) as err:
        engine().translate(method, "/gateway_download(1)")
    assert (err.value.status, err.value.message) == (401, None)
