"""A fake Telegram Bot API: a real HTTP server on 127.0.0.1 answering `POST
/bot<token>/<method>` in the shapes core.telegram.org/bots/api documents —
`{"ok": true, "result": ...}` or `{"ok": false, "error_code": N, "description": "..."}`.

- getMe → User; an unknown token → 401 "Unauthorized" (as Telegram answers).
- getChat (chat_id: @username or id) → ChatFullInfo; unknown → 400 "Bad Request: chat not
  found".
- getChatMember (chat_id, user_id) → ChatMemberAdministrator / ChatMemberOwner /
  ChatMemberMember / ChatMemberLeft, from what the test set with `set_member`.
- sendMessage (JSON: chat_id, text, reply_parameters) → Message; text of 1-4,096
  characters, a reply to a message that exists, a bot that may post.
- sendPhoto (multipart: chat_id, photo, caption) → Message with `photo` sizes.
- sendMediaGroup (multipart: chat_id, media = JSON InputMediaPhoto list with
  attach://<name>, the files) → [Message], 2-10 photos, one media_group_id.

Every message posted is kept in `messages` (chat id, text or caption, photo bytes, the
message replied to). Scripted failures come from FakeServer: `script("POST",
fake.path(token, "sendMessage"), Scripted(...))`.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time

import pytest

from tests.networks.fake_http import FakeServer, Reply, Request

MEMBER_FIELDS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": False,
    "can_restrict_members": False,
    "can_promote_members": False,
    "can_change_info": False,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
}


def error(code: int, description: str, **parameters) -> Reply:
    body = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Reply(code, body)


def ok(result) -> Reply:
    return Reply(200, {"ok": True, "result": result})


class FakeTelegram(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.bots: dict[str, dict] = {}  # token → User
        self.chats: dict[int, dict] = {}  # id → Chat
        self.members: dict[tuple[int, int], dict] = {}  # (chat id, user id) → ChatMember
        self.messages: list[dict] = []
        self.issued: list[str] = []  # every token handed out (for the log scan)
        self._bot_ids = itertools.count(7_000_000_001)
        self._chat_ids = itertools.count(1_001_234_567_890)
        self._message_ids: dict[int, itertools.count] = {}

    # --- test helpers ---------------------------------------------------------------------
    def add_bot(self, username: str = "queueloop_bot") -> str:
        """A bot; returns its token."""
        bot_id = next(self._bot_ids)
        token = f"{bot_id}:{secrets.token_urlsafe(26)[:35]}"
        self.bots[token] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Queue Loop",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.issued.append(token)
        return token

    def add_channel(self, username: str | None = "queueloop_news", *, kind="channel") -> int:
        chat_id = -next(self._chat_ids)
        chat = {"id": chat_id, "type": kind, "title": "Queue Loop News"}
        if username:
            chat["username"] = username
        self.chats[chat_id] = chat
        return chat_id

    def set_member(self, chat_id: int, token: str, status: str = "administrator", **rights):
        """The bot's membership of the chat: administrator (with can_post_messages unless
        told), creator, member, left or kicked."""
        user = self.bots[token]
        member = {"status": status, "user": user}
        if status == "administrator":
            member |= MEMBER_FIELDS | {"can_post_messages": True, "can_edit_messages": True}
            member |= rights
        self.members[(chat_id, user["id"])] = member

    def path(self, token: str, method: str) -> str:
        return f"/bot{token}/{method}"

    def posted(self, chat_id: int | None = None) -> list[dict]:
        return [m for m in self.messages if chat_id is None or m["chat_id"] == chat_id]

    # --- the API --------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        if request.method != "POST" or not request.path.startswith("/bot"):
            return error(404, "Not Found")
        token, _, method = request.path.removeprefix("/bot").partition("/")
        bot = self.bots.get(token)
        if bot is None:
            return error(401, "Unauthorized")
        params = self._params(request)
        if method == "getMe":
            return ok(bot)
        chat = self._chat(params.get("chat_id"))
        if method not in ("getChat", "getChatMember", "sendMessage", "sendPhoto", "sendMediaGroup"):
            return error(404, "Not Found")
        if chat is None:
            return error(400, "Bad Request: chat not found")
        if method == "getChat":
            return ok({**chat, "accent_color_id": 0, "max_reaction_count": 11})
        if method == "getChatMember":
            user_id = int(params.get("user_id") or 0)
            member = self.members.get((chat["id"], user_id))
            if member is None:
                return ok({"status": "left", "user": bot})
            return ok(member)
        refused = self._may_post(chat, bot)
        if refused is not None:
            return refused
        if method == "sendMessage":
            return self._send_message(chat, params)
        if method == "sendPhoto":
            return self._send_photo(chat, request, params)
        return self._send_media_group(chat, request, params)

    def _params(self, request: Request) -> dict:
        if "multipart/form-data" in request.headers.get("content-type", ""):
            return {
                name: data.decode()
                for name, (filename, _type, data) in request.multipart().items()
                if filename is None
            }
        return request.json

    def _chat(self, chat_id) -> dict | None:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            name = chat_id[1:].lower()
            return next(
                (c for c in self.chats.values() if (c.get("username") or "").lower() == name),
                None,
            )
        try:
            return self.chats.get(int(chat_id))
        except (TypeError, ValueError):
            return None

    def _may_post(self, chat: dict, bot: dict) -> Reply | None:
        member = self.members.get((chat["id"], bot["id"]), {"status": "left"})
        if member["status"] in ("left", "kicked"):
            return error(403, f"Forbidden: bot is not a member of the {chat['type']} chat")
        if chat["type"] == "channel" and not (
            member["status"] == "creator" or member.get("can_post_messages")
        ):
            return error(400, "Bad Request: need administrator rights in the channel chat")
        return None

    def _message(self, chat: dict, **content) -> dict:
        counter = self._message_ids.setdefault(chat["id"], itertools.count(1))
        message = {
            "message_id": next(counter),
            "date": int(time.time()),
            "chat": chat,
            **content,
        }
        if chat["type"] == "channel":
            message["sender_chat"] = chat
        return message

    def _reply_to(self, chat: dict, params: dict) -> tuple[dict | None, Reply | None]:
        reply = params.get("reply_parameters")
        if isinstance(reply, str):
            reply = json.loads(reply)
        if not reply:
            return None, None
        target = next(
            (
                m
                for m in self.messages
                if m["chat_id"] == chat["id"] and m["message_id"] == reply.get("message_id")
            ),
            None,
        )
        if target is None:
            return None, error(400, "Bad Request: message to be replied not found")
        return target, None

    def _record(
        self,
        chat: dict,
        message: dict,
        *,
        text: str,
        photo: bytes | None = None,
        reply_to: dict | None = None,
    ) -> None:
        self.messages.append(
            {
                "chat_id": chat["id"],
                "message_id": message["message_id"],
                "text": text,
                "photo": photo,
                "reply_to": reply_to["message_id"] if reply_to else None,
                "media_group_id": message.get("media_group_id"),
            }
        )

    def _send_message(self, chat: dict, params: dict) -> Reply:
        text = str(params.get("text") or "")
        if not text.strip():
            return error(400, "Bad Request: message text is empty")
        if len(text) > 4096:  # code points, as TDLib counts a bot's text
            return error(400, "Bad Request: message is too long")
        target, refused = self._reply_to(chat, params)
        if refused is not None:
            return refused
        extra = {"reply_to_message": self._public(target, chat)} if target else {}
        message = self._message(chat, text=text, **extra)
        self._record(chat, message, text=text, reply_to=target)
        return ok(message)

    def _public(self, recorded: dict, chat: dict) -> dict:
        return {"message_id": recorded["message_id"], "date": 0, "chat": chat}

    @staticmethod
    def _photo_sizes(data: bytes) -> list[dict]:
        unique = secrets.token_hex(8)
        return [
            {
                "file_id": f"AgAC{unique}{n}",
                "file_unique_id": f"AQAD{unique}{n}",
                "width": w,
                "height": h,
                "file_size": len(data),
            }
            for n, (w, h) in enumerate([(90, 67), (320, 240)])
        ]

    def _send_photo(self, chat: dict, request: Request, params: dict) -> Reply:
        parts = request.multipart()
        if "photo" not in parts or parts["photo"][0] is None:
            return error(400, "Bad Request: there is no photo in the request")
        caption = str(params.get("caption") or "")
        if len(caption) > 1024:
            return error(400, "Bad Request: message caption is too long")
        data = parts["photo"][2]
        message = self._message(
            chat, photo=self._photo_sizes(data), **({"caption": caption} if caption else {})
        )
        self._record(chat, message, text=caption, photo=data)
        return ok(message)

    def _send_media_group(self, chat: dict, request: Request, params: dict) -> Reply:
        parts = request.multipart()
        try:
            media = json.loads(params.get("media") or "[]")
        except ValueError:
            return error(400, "Bad Request: can't parse media JSON object")
        if not 2 <= len(media) <= 10:
            return error(400, "Bad Request: wrong number of media in the media group")
        files = []
        for item in media:
            name = str(item.get("media", "")).removeprefix("attach://")
            if item.get("type") != "photo" or name not in parts:
                return error(400, "Bad Request: wrong file identifier/HTTP URL specified")
            caption = str(item.get("caption") or "")
            if len(caption) > 1024:
                return error(400, "Bad Request: message caption is too long")
            files.append((parts[name][2], caption))
        group = str(secrets.randbelow(10**17) + 10**17)
        messages = []
        for data, caption in files:
            message = self._message(
                chat,
                media_group_id=group,
                photo=self._photo_sizes(data),
                **({"caption": caption} if caption else {}),
            )
            self._record(chat, message, text=caption, photo=data)
            messages.append(message)
        return ok(messages)


@pytest.fixture
def fake_telegram(settings):
    from networks.telegram import api

    settings.INSTANCE_ALLOWED_HOSTS = ["127.0.0.1"]
    fake = FakeTelegram().start()
    settings.TELEGRAM_API_BASE = fake.url
    # No pooled connection outlives its fake: a later fake may get the same port.
    api.reset_session()
    yield fake
    api.reset_session()
    fake.stop()
