"""The ``/v6/$metadata`` document (placeholder until generated)."""


def metadata_document(schema) -> str:
    return ""
