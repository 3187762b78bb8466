"""Telegram: a bot posts to a channel or a group through the Bot API.

A Telegram account is a bot and a chat. Its `credentials` (encrypted) hold
`{"bot_token"}`; its `options` hold `{"chat_id"` (the numeric id, as a string, read when
connecting, so a channel renamed later still works), `"chat_type"`, `"chat_title"`,
`"chat_username"` (without the @; "" for a private chat), `"bot_id"`, `"bot_username"}`.
Its `external_id` is the chat id: one account per chat and workspace.

Publishing: text with `sendMessage` (1-4,096 characters), one image with `sendPhoto` and
2-10 with `sendMediaGroup`, the text as the (first) image's caption (0-1,024 characters).
Telegram counts these limits in characters, Unicode code points (TDLib checks a bot's
text with utf8_length; an emoji is one, a flag two), after entities parsing, and we send
plain text. A thread's later parts are replies to the part before (`reply_parameters`).
Telegram keeps no alt text: images go without it.

At most once: Telegram has no idempotency key, so a call that may have reached it (a
timeout, a connection broken mid-request, a 504) is never repeated: the delivery ends
`unconfirmed` and a person checks the chat, as on X.

The calls and their errors: networks/telegram/api.py.
"""

from __future__ import annotations

import io
import json
import logging

from PIL import Image

from networks import thread
from networks.base import AuthFailed, PlainTextProvider, Rejected, Transient, delivery_images
from networks.contract import Capabilities, LengthCounting, Published
from networks.media import fit_under, image_bytes
from networks.telegram import api

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
MAX_IMAGES = 10
# sendPhoto: at most 10 MB, width + height at most 10,000, sides at most 20:1.
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_SIDES = 10_000
PHOTO_MAX_RATIO = 20
PHOTO_TYPES = ("image/jpeg", "image/png")
CHAT_TYPES = ("channel", "group", "supergroup")


# --- Images -----------------------------------------------------------------------------


def photo_bytes(image) -> tuple[bytes, str]:
    """The image as sendPhoto takes it: a JPEG or PNG (an animation as its first frame),
    width + height at most 10,000, at most 10 MB. Refused when its sides are beyond 20:1."""
    data = image_bytes(image)
    content_type = image.content_type
    long_side, short_side = max(image.width, image.height), max(1, min(image.width, image.height))
    if long_side / short_side > PHOTO_MAX_RATIO:
        raise Rejected(
            f"Image {image.position + 1} is {image.width} by {image.height}: Telegram takes "
            f"photos whose sides are at most {PHOTO_MAX_RATIO} to 1."
        )
    if content_type not in PHOTO_TYPES or image.width + image.height > PHOTO_MAX_SIDES:
        picture = Image.open(io.BytesIO(data))
        picture.seek(0)
        picture = picture.convert("RGBA")
        if content_type != "image/png":  # a GIF or WebP: its first frame, flattened on white
            flat = Image.new("RGB", picture.size, (255, 255, 255))
            flat.paste(picture, mask=picture.split()[-1])
            picture = flat
        scale = min(1.0, PHOTO_MAX_SIDES / (picture.width + picture.height))
        if scale < 1.0:
            size = (max(1, int(picture.width * scale)), max(1, int(picture.height * scale)))
            picture = picture.resize(size, Image.Resampling.LANCZOS)
        out = io.BytesIO()
        if picture.mode == "RGBA":
            picture.save(out, format="PNG", optimize=True)
            data, content_type = out.getvalue(), "image/png"
        else:
            picture.save(out, format="JPEG", quality=90)
            data, content_type = out.getvalue(), "image/jpeg"
    return fit_under(data, content_type, max_bytes=PHOTO_MAX_BYTES)


def _file(image, name: str) -> tuple[str, bytes, str]:
    data, content_type = photo_bytes(image)
    extension = "png" if content_type == "image/png" else "jpg"
    return (f"{name}.{extension}", data, content_type)


# --- Rights -----------------------------------------------------------------------------


def _where(chat: dict) -> str:
    username = chat.get("username") or chat.get("chat_username")
    title = chat.get("title") or chat.get("chat_title") or ""
    return f"@{username}" if username else (f"“{title}”" if title else "the chat")


def rights_problem(member: dict, *, chat_type: str, where: str) -> str:
    """Why the bot (a ChatMember answer) may not post in the chat; "" when it may."""
    status = member.get("status", "")
    if status == "creator":
        return ""
    if status != "administrator":
        shown = {"left": "not a member", "kicked": "banned"}.get(status, status or "unknown")
        return (
            f"The bot is not an administrator of {where} (its status there: {shown}). Add it "
            "as an administrator that may post messages, then connect again."
        )
    if chat_type == "channel" and not member.get("can_post_messages"):
        return (
            f"The bot is an administrator of {where} but may not post messages: turn on "
            "“Post messages” in its administrator rights, then connect again."
        )
    return ""


def connect(token: str, chat: str) -> dict:
    """Check a bot token and a chat (`@channelname` or a numeric id) before storing them:
    getMe, getChat, getChatMember (the bot must be an administrator that may post).
    Returns the account's fields: {"handle", "external_id", "options"}."""
    me = api.call(token, "getMe", what="the bot token check")
    if not me.get("is_bot", True):
        raise Rejected("This token is not a bot's token.")
    info = api.call(token, "getChat", what="the chat look-up", params={"chat_id": chat})
    chat_type = info.get("type", "")
    if chat_type not in CHAT_TYPES:
        raise Rejected(
            f"{chat} is a {chat_type or 'chat'} chat: Queue Loop posts to channels and groups."
        )
    where = _where(info)
    member = api.call(
        token,
        "getChatMember",
        what="the bot's rights check",
        params={"chat_id": info["id"], "user_id": me["id"]},
    )
    problem = rights_problem(member, chat_type=chat_type, where=where)
    if problem:
        raise Rejected(problem)
    username = info.get("username") or ""
    return {
        "handle": username or str(info.get("title") or info["id"])[:100],
        "external_id": str(info["id"]),
        "options": {
            "chat_id": str(info["id"]),
            "chat_type": chat_type,
            "chat_title": str(info.get("title") or ""),
            "chat_username": username,
            "bot_id": str(me["id"]),
            "bot_username": str(me.get("username") or ""),
        },
    }


# --- The network ----------------------------------------------------------------------


def _account_keys(account) -> tuple[str, str]:
    token = (account.credentials or {}).get("bot_token", "")
    chat_id = (account.options or {}).get("chat_id", "")
    if not token or not chat_id:
        raise AuthFailed("No bot token or chat is stored for this Telegram account: connect it.")
    return token, chat_id


def message_url(message: dict, options: dict) -> str:
    """The message's t.me link: public chats by name, private supergroups and channels by
    their id (a link that works for members)."""
    message_id = message.get("message_id")
    chat = message.get("chat") or {}
    username = chat.get("username") or options.get("chat_username")
    if username:
        return f"https://t.me/{username}/{message_id}"
    chat_id = str(chat.get("id") or options.get("chat_id") or "")
    if chat_id.startswith("-100"):
        return f"https://t.me/c/{chat_id[4:]}/{message_id}"
    return ""


class TelegramNetwork(PlainTextProvider):
    name = "telegram"
    label = "Telegram"
    max_length = TEXT_LIMIT
    # Telegram has no idempotency key: a call that may have reached it ends `unconfirmed`.
    idempotent = False
    capabilities = Capabilities(
        threads=True,
        images=True,
        max_images=MAX_IMAGES,
        video=False,
        first_comment=False,
        idempotent=False,
        read_back=False,
        length_counting=LengthCounting.CHARACTERS,
        alt_text=False,
    )

    def publish(self, delivery) -> Published:
        account = delivery.account
        errors = thread.validate_parts(self, delivery, account=account)
        if errors:
            raise Rejected(" ".join(errors))
        token, chat_id = _account_keys(account)
        options = account.options or {}

        def post_part(index: int, text: str, sent: list[dict]) -> dict:
            what = "the post" if index == 0 else f"part {index + 1}"
            images = delivery_images(delivery) if index == 0 else []
            if images:
                message = self._post_images(token, chat_id, text, images, what=what)
            else:
                params: dict = {"chat_id": chat_id, "text": text}
                if sent:
                    params["reply_parameters"] = {"message_id": int(sent[-1]["id"])}
                message = api.call(token, "sendMessage", what=what, params=params)
            if not isinstance(message, dict) or "message_id" not in message:
                raise Transient(
                    f"Telegram accepted {what} but its answer names no message.", maybe_sent=True
                )
            return {"id": str(message["message_id"]), "url": message_url(message, options)}

        published = thread.publish_parts(delivery, post_part)
        log.info(
            "Posted delivery %s to Telegram account %s: message %s",
            delivery.id,
            account.id,
            published.external_id,
        )
        return published

    def _post_images(self, token: str, chat_id: str, text: str, images: list, *, what: str):
        """sendPhoto (one image) or sendMediaGroup (2-10), the text as the first caption;
        the first message (the one a later part replies to)."""
        length = self.text_length(text)
        if length > CAPTION_LIMIT:
            raise Rejected(
                f"Telegram takes at most {CAPTION_LIMIT} characters under images; this text "
                f"has {length}. Shorten it, or move the rest into the thread's next part."
            )
        if len(images) > MAX_IMAGES:
            raise Rejected(f"Telegram takes at most {MAX_IMAGES} images in one post.")
        if len(images) == 1:
            return api.call(
                token,
                "sendPhoto",
                what=what,
                params={"chat_id": chat_id, "caption": text},
                files={"photo": _file(images[0], "photo")},
            )
        files = {f"photo{n}": _file(image, f"photo{n}") for n, image in enumerate(images)}
        media = [
            {
                "type": "photo",
                "media": f"attach://photo{n}",
                **({"caption": text} if n == 0 else {}),
            }
            for n in range(len(images))
        ]
        messages = api.call(
            token,
            "sendMediaGroup",
            what=what,
            params={"chat_id": chat_id, "media": json.dumps(media)},
            files=files,
        )
        if not isinstance(messages, list) or not messages:
            raise Rejected("Telegram accepted the album but returned no messages.")
        return messages[0]

    def check(self, account) -> str:
        token, chat_id = _account_keys(account)
        options = account.options or {}
        me = api.call(token, "getMe", what="the bot token check")
        member = api.call(
            token,
            "getChatMember",
            what="the bot's rights check",
            params={"chat_id": chat_id, "user_id": me["id"]},
        )
        where = _where(options)
        problem = rights_problem(member, chat_type=options.get("chat_type", ""), where=where)
        if problem:
            raise AuthFailed(problem)
        return f"The bot @{me.get('username', '?')} may post to {where} on Telegram."


network = TelegramNetwork()
