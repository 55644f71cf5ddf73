"""v6 ``user``: ``actor`` is the plain actor id."""

from translators import Translator, Unwrap

TRANSLATORS = [Translator(resource="user", rules=(Unwrap("actor"),))]
