"""Imports every context's models so that Base.metadata is complete (migrations, tests)."""

from __future__ import annotations


def import_all_models() -> None:
    import zhongtai.analytics.models
    import zhongtai.auth.models
    import zhongtai.catalog.models
    import zhongtai.channels.models
    import zhongtai.forecasting.models
    import zhongtai.inventory.models
    import zhongtai.jobs
    import zhongtai.members.models
    import zhongtai.orders.models
    import zhongtai.outbox
    import zhongtai.replenishment.models
    import zhongtai.service.models
    import zhongtai.touchpoints.models  # noqa: F401
