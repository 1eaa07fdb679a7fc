"""The lake of the running app and the dependencies every analytics endpoint shares."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from zhongtai.analytics.lake import Lake
from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.http import get_settings_dep, require
from zhongtai.settings import Settings


def get_lake(request: Request) -> Lake:
    lake = request.app.state.lake
    assert isinstance(lake, Lake)
    return lake


LakeDep = Annotated[Lake, Depends(get_lake)]
# Every dashboard endpoint: read permission (store roles get their stores' figures) and settings.
AnalyticsReader = Annotated[Principal, Depends(require(Perm.ANALYTICS_READ))]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
