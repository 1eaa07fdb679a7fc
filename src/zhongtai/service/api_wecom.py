"""The WeChat / WeCom-style webhook under /api/v1/service/wecom/{channel_code}.

Signed by the platform (see ``service.wecom``), not by an API key: these two routes are the only
API routes without a permission dependency, and the authorization-matrix test lists them as
signature-authenticated. An unsigned, badly signed or stale call gets 401 problem+json.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response

from zhongtai.http import DbSession
from zhongtai.service import wecom

router = APIRouter(prefix="/service/wecom", tags=["service"])

Signature = Annotated[str, Query(alias="signature", description="sha1 of sorted token, timestamp, nonce")]
Timestamp = Annotated[str, Query(description="seconds since the epoch; refused when more than 5 minutes off")]
Nonce = Annotated[str, Query()]


@router.get("/{channel_code}", response_class=PlainTextResponse)
def verify_url(
    session: DbSession,
    channel_code: str,
    signature: Signature = "",
    timestamp: Timestamp = "",
    nonce: Nonce = "",
    echostr: Annotated[str, Query(max_length=512)] = "",
) -> PlainTextResponse:
    """The platform's URL check: echoes ``echostr`` when the call is signed with the channel's token."""
    wecom.verify(session, channel_code, signature_=signature, timestamp=timestamp, nonce=nonce)
    return PlainTextResponse(echostr)


async def _raw_body(request: Request) -> bytes:
    """The body, read no further than one byte past the limit (``parse`` refuses a longer one)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > wecom.MAX_BODY_BYTES:
            break
    return b"".join(chunks)[: wecom.MAX_BODY_BYTES + 1]


@router.post("/{channel_code}")
def receive(
    session: DbSession,
    channel_code: str,
    body: Annotated[bytes, Depends(_raw_body)],
    signature: Signature = "",
    timestamp: Timestamp = "",
    nonce: Nonce = "",
) -> Response:
    """A customer's message (XML): the bot's answer as a passive XML reply, ``success`` when none."""
    wecom.verify(session, channel_code, signature_=signature, timestamp=timestamp, nonce=nonce)
    incoming = wecom.parse(body)
    reply = wecom.handle(session, channel_code, incoming)
    if reply == wecom.EMPTY_REPLY:
        return PlainTextResponse(reply)
    return Response(reply, media_type="application/xml")
