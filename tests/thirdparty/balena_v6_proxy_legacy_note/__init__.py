"""A third-party translator: v6 clients of some old tool read ``device.legacy_note`` (always null) and call
``device_tag`` by an old raw name."""

from translators import Constant, Translator

TRANSLATORS = [
    Translator(
        resource="device",
        doc="third-party: legacy_note",
        rules=(Constant("legacy_note", "Text | null", after="note"),),
    )
]
