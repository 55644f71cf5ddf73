"""translators.supervisor_release: the read-only view over supervisor releases (decision 4)."""

from translator_helpers import v7

from translators.supervisor_release import SUPERVISOR_RELEASES, _supervisor_version, _version_filter


def test_version_mapping():
    assert _supervisor_version({"raw_version": "14.0.0"}) == "v14.0.0"
    assert _version_filter("v14.0.0") == _version_filter("14.0.0") == "raw_version eq '14.0.0'"


def test_view_url():
    got = v7(
        "/supervisor_release?$select=id,supervisor_version&$filter=supervisor_version eq 'v1'", flavour="balena-cloud"
    )
    assert got == f"/release?$select=id,raw_version&$filter=(raw_version eq '1') and ({SUPERVISOR_RELEASES})"


def test_only_on_balena_cloud():
    assert v7("/device?$select=id,should_be_managed_by__supervisor_release", flavour="balena-cloud") == (
        "/device?$select=id,should_be_managed_by__release"
    )
