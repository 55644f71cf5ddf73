"""Config-variable resources: v6 raw names ``device__has__name`` / ``application__has__name``."""

from translators import AliasRename, Rename, Translator

DEVICE = Rename("device__has__name", "device__has__config_var_name")
APPLICATION = Rename("application__has__name", "application__has__config_var_name")

TRANSLATORS = [
    Translator(
        resource="device_config_variable", rules=(AliasRename("device__has__name", "device__has__config_var_name"),)
    ),
    Translator(
        resource="application_config_variable",
        rules=(AliasRename("application__has__name", "application__has__config_var_name"),),
    ),
    Translator(resource="device", rules=(DEVICE,)),
    Translator(resource="application", rules=(APPLICATION,)),
    Translator(resource="my_application", rules=(APPLICATION,)),
]
