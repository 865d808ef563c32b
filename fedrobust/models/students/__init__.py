"""Compact students; importing this package registers them in ``fedrobust.models.registry.STUDENTS``."""

from fedrobust.models.students import bigru_attention, fastgrnn, prado, tiny_transformer  # noqa: F401
