"""v6 ``device_history`` (balenaCloud only, spec §1 C3): the pinned release has its v6 name."""

from translators import Rename, Translator

TRANSLATORS = [
    Translator(
        resource="device_history",
        flavours=("balena-cloud",),
        rules=(Rename("should_be_running__release", "is_pinned_on__release"),),
    )
]
