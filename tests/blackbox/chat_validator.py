"""An independent check of what digestd sends to each chat platform (issue 9): the request
line, the payload's documented shape and its documented limits (reference/platforms.md §1),
and that no untrusted text reaches a platform as markup, a mention or a control character.
Written from the platforms' documentation, not from digestd's code.

    problems = validate(kind, record)   # [] when the request is one the platform accepts
"""
import html
import re

# Code points a payload may not carry in any text: C0 controls but newline, DEL, C1,
# bidirectional marks, embeddings, overrides and isolates.
_FORBIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Mentions that would notify people, as each platform parses them.
_MENTIONS = re.compile(r"@(everyone|here|channel|all|room)\b|<!(channel|here|everyone)>|"
                       r"<@[UW][A-Z0-9]+>|<users/all>")


def utf16_len(text):
    return len(text.encode("utf-16-le")) // 2


def _strings(value):
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _common(record, problems, plain_fields=()):
    if record.json is None:
        problems.append("body is not JSON")
        return
    for s in _strings(record.json):
        if _FORBIDDEN.search(s):
            problems.append(f"a control or bidi character in {s[:60]!r}")
        if _MENTIONS.search(s):
            problems.append(f"a live mention in {s[:80]!r}")


def _no_markup_injection(text, allowed_tags, problems, where):
    """HTML `text` may hold only `allowed_tags`, and only links to http(s)."""
    for tag in re.findall(r"<\s*/?\s*([a-zA-Z0-9-]+)", text):
        if tag.lower() not in allowed_tags:
            problems.append(f"{where}: tag <{tag}> is not allowed")
    for href in re.findall(r'href="([^"]*)"', text):
        if not re.match(r"https?://", html.unescape(href)):
            problems.append(f"{where}: link {href!r} is not http(s)")


def _slack(record, problems):
    body = record.json
    if not isinstance(body.get("text"), str):
        problems.append("slack: no text fallback")
    blocks = body.get("blocks", [])
    if len(blocks) > 50:
        problems.append(f"slack: {len(blocks)} blocks > 50")
    total = 0
    for b in blocks:
        kind = b.get("type")
        if kind == "header":
            if b["text"]["type"] != "plain_text" or len(b["text"]["text"]) > 150:
                problems.append("slack: header must be plain_text of at most 150 characters")
            total += len(b["text"]["text"])
        elif kind == "section":
            text = b["text"]["text"]
            if b["text"]["type"] != "mrkdwn" or len(text) > 3000:
                problems.append(f"slack: section text of {len(text)} > 3000")
            total += len(text)
            # Only digestd's own links may open with '<' in mrkdwn.
            for m in re.finditer(r"<([^>]*)>", text):
                if not re.match(r"https?://[^|<>]+\|", m.group(1)):
                    problems.append(f"slack: '<{m.group(1)[:40]}>' is not a link")
            acc = b.get("accessory")
            if acc and (acc.get("type") != "image" or not acc.get("alt_text")):
                problems.append("slack: accessory must be an image with alt_text")
        elif kind == "context":
            for e in b["elements"]:
                total += len(e["text"])
        else:
            problems.append(f"slack: unexpected block type {kind}")
    if total > 12000:
        problems.append(f"slack: {total} characters in blocks > 12000")


def _discord(record, problems):
    if record.query.get("wait") != ["true"]:
        problems.append("discord: ?wait=true missing")
    body = record.json
    if body.get("allowed_mentions") != {"parse": []}:
        problems.append("discord: allowed_mentions is not {parse: []}")
    if utf16_len(body.get("content", "")) > 2000:
        problems.append("discord: content > 2000")
    embeds = body.get("embeds", [])
    if len(embeds) > 10:
        problems.append("discord: more than 10 embeds")
    total = 0
    for e in embeds:
        limits = {"title": 256, "description": 4096}
        for key, limit in limits.items():
            n = utf16_len(e.get(key, ""))
            total += n
            if n > limit:
                problems.append(f"discord: embed {key} {n} > {limit}")
        fields = e.get("fields", [])
        if len(fields) > 25:
            problems.append("discord: more than 25 fields")
        for f in fields:
            total += utf16_len(f["name"]) + utf16_len(f["value"])
        total += utf16_len(e.get("footer", {}).get("text", ""))
        for key in ("url",):
            if key in e and not e[key].startswith(("https://", "http://")):
                problems.append("discord: embed url is not http(s)")
    if total > 6000:
        problems.append(f"discord: embeds hold {total} > 6000 characters")
    if not body.get("content") and not embeds:
        problems.append("discord: neither content nor embeds")


def _teams(record, problems):
    body = record.json
    if len(record.raw_body) > 28 * 1000:
        problems.append(f"teams: {len(record.raw_body)} bytes > 28 KB")
    if body.get("type") != "message":
        problems.append("teams: type must be message")
    att = body.get("attachments") or [{}]
    if att[0].get("contentType") != "application/vnd.microsoft.card.adaptive":
        problems.append("teams: not an Adaptive Card attachment")
    card = att[0].get("content", {})
    if card.get("type") != "AdaptiveCard" or not card.get("version"):
        problems.append("teams: content is not an AdaptiveCard with a version")
    if not isinstance(card.get("body"), list) or not card["body"]:
        problems.append("teams: card has no body")
    for s in _strings(card.get("body", [])):
        for m in re.finditer(r"(?<!\\)\[[^\]]*(?<!\\)\]\(([^)]*)\)", s):
            if not m.group(1).startswith(("https://", "http://")):
                problems.append(f"teams: markdown link to {m.group(1)[:40]!r}")


def _telegram(record, problems):
    if not re.fullmatch(r"/bot\d+:[A-Za-z0-9_-]+/sendMessage", record.path):
        problems.append(f"telegram: path {record.path!r}")
    body = record.json
    if body.get("parse_mode") != "HTML":
        problems.append("telegram: parse_mode is not HTML")
    if "chat_id" not in body:
        problems.append("telegram: no chat_id")
    text = body.get("text", "")
    _no_markup_injection(text, {"b", "i", "a", "u", "s", "code", "pre", "blockquote"}, problems,
                         "telegram")
    for ent in re.findall(r"&[^;\s]*;?", text):
        if ent not in ("&lt;", "&gt;", "&amp;", "&quot;"):
            problems.append(f"telegram: entity {ent!r} is not one Telegram knows")
    visible = html.unescape(re.sub(r"<[^>]*>", "", text))
    if not 1 <= utf16_len(visible) <= 4096:
        problems.append(f"telegram: {utf16_len(visible)} characters after entities (1-4096)")


def _matrix(record, problems):
    if record.method != "PUT" or not re.fullmatch(
            r"/_matrix/client/v3/rooms/![^/]+/send/m\.room\.message/[A-Za-z0-9._~-]+",
            record.path):
        problems.append(f"matrix: request {record.method} {record.path!r}")
    if not record.headers.get("authorization", "").startswith("Bearer "):
        problems.append("matrix: no Bearer token")
    body = record.json
    if body.get("m.mentions") != {}:
        problems.append("matrix: m.mentions is not {}")
    if body.get("msgtype") not in ("m.notice", "m.text") or not isinstance(body.get("body"), str):
        problems.append("matrix: not an m.room.message with a body")
    if body.get("format") == "org.matrix.custom.html":
        _no_markup_injection(body.get("formatted_body", ""),
                             {"b", "i", "a", "p", "br", "h4", "h3", "em", "strong"}, problems,
                             "matrix")
    if len(record.raw_body) > 65536:
        problems.append("matrix: event content > 65536 bytes")


def _mattermost(record, problems):
    text = record.json.get("text", "")
    if not text or len(text) > 16383:
        problems.append(f"mattermost: text of {len(text)} runes (1-16383)")
    if re.search(r"<!|<@", text):
        problems.append("mattermost: Slack-style mention syntax in text")
    for m in re.finditer(r"(?<!\\)\[[^\]]*(?<!\\)\]\(([^)]*)\)", text):
        if not m.group(1).startswith(("https://", "http://")):
            problems.append(f"mattermost: markdown link to {m.group(1)[:40]!r}")
    if re.search(r"(?<!\\)!\[", text):
        problems.append("mattermost: an image from the text")


def _googlechat(record, problems):
    if record.query.get("messageReplyOption") != ["REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"]:
        problems.append("googlechat: messageReplyOption missing")
    body = record.json
    if len(record.raw_body) > 32000:
        problems.append(f"googlechat: {len(record.raw_body)} bytes > 32,000")
    if not body.get("thread", {}).get("threadKey"):
        problems.append("googlechat: no threadKey")
    cards = body.get("cardsV2") or []
    if not cards:
        problems.append("googlechat: no cardsV2")
    for c in cards:
        if not c.get("cardId") or "card" not in c:
            problems.append("googlechat: card without cardId")
        widgets = sum(len(s.get("widgets", [])) for s in c.get("card", {}).get("sections", []))
        if widgets > 100:
            problems.append(f"googlechat: {widgets} widgets > 100")
        for s in _strings(c.get("card", {}).get("sections", [])):
            _no_markup_injection(s, {"a", "b", "i", "u", "br", "font", "s"}, problems, "googlechat")


def _ntfy(record, problems):
    body = record.json
    if record.path != "/" or record.method not in ("POST", "PUT"):
        problems.append(f"ntfy: JSON publish goes to the root, not {record.path!r}")
    if not record.headers.get("authorization", "").startswith("Bearer "):
        problems.append("ntfy: no Bearer token")
    if not body.get("topic") or not isinstance(body.get("message"), str):
        problems.append("ntfy: no topic or message")
    if len(body.get("message", "").encode()) > 4096:
        problems.append("ntfy: message > 4,096 bytes")
    if body.get("markdown"):
        problems.append("ntfy: markdown on for untrusted text")
    for key in ("click", "attach"):
        if key in body and not body[key].startswith(("https://", "http://")):
            problems.append(f"ntfy: {key} is not http(s)")


_CHECKS = {"slack": _slack, "discord": _discord, "teams": _teams, "telegram": _telegram,
           "matrix": _matrix, "mattermost": _mattermost, "googlechat": _googlechat, "ntfy": _ntfy}


def validate(kind, record):
    """Problems with one request `record` (a chat_sink.ChatRecord) sent to `kind`."""
    problems = []
    if record.method not in ("POST", "PUT"):
        problems.append(f"method {record.method}")
    if "application/json" not in record.headers.get("content-type", ""):
        problems.append("Content-Type is not JSON")
    _common(record, problems)
    if record.json is not None:
        try:
            _CHECKS[kind](record, problems)
        except (KeyError, TypeError, AttributeError) as e:
            problems.append(f"{kind}: malformed payload ({e!r})")
    return problems
