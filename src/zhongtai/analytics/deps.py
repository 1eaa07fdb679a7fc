"""The lake of the running app, for API endpoints and console pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from zhongtai.analytics.lake import Lake


def get_lake(request: Request) -> Lake:
    lake = request.app.state.lake
    assert isinstance(lake, Lake)
    return lake


LakeDep = Annotated[Lake, Depends(get_lake)]
