"""The embeddable chat widget's server side: CORS for the conversation API and the embed snippet.

The widget (``/static/service/widget.js``) runs on a retailer's pages, another origin than
Zhongtai's, and calls ``/api/v1/service/conversations…`` with a publishable ``chat_widget`` key.
Browsers only let it do that when the API answers CORS: this middleware does, for those paths
alone and for the origins in ``ZHONGTAI_SERVICE_WIDGET_ORIGINS`` alone (none by default: the
widget then works on Zhongtai's own pages only). Cookies never cross origins (no credentials):
a foreign page authenticates with the key, never with someone's console session.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

WIDGET_API_PREFIX = "/api/v1/service/conversations"
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Conversation-Token", "Idempotency-Key", "Accept-Language")


def is_widget_path(path: str) -> bool:
    return path == WIDGET_API_PREFIX or path.startswith(WIDGET_API_PREFIX + "/")


class WidgetCorsMiddleware:
    """Starlette's CORS middleware, applied to the conversation API's paths only."""

    def __init__(self, app: ASGIApp, origins: Sequence[str] = ()) -> None:
        self.app = app
        cleaned = [o.strip().rstrip("/") for o in origins if o.strip()]
        self.cors = CORSMiddleware(
            app,
            allow_origins=cleaned,
            allow_methods=["GET", "POST"],
            allow_headers=list(ALLOWED_HEADERS),
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_widget_path(scope.get("path", "")):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def embed_snippet(base_url: str, *, channel_code: str, key: str = "") -> str:
    """The ``<script>`` tag a retailer pastes into their pages."""
    base = base_url.rstrip("/")
    return (
        f'<script src="{escape(base)}/static/service/widget.js" '
        f'data-key="{escape(key or "CHAT_WIDGET_KEY")}" data-channel="{escape(channel_code)}" async></script>'
    )
