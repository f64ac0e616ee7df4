"""The OpenAPI 3.0 document of /api/v1, written by hand next to the code it describes.

tests/api checks that its paths and methods are exactly the API's routes, and schemathesis
checks the answers (status codes, bodies) against it.
"""

from __future__ import annotations

INT32 = {"type": "integer", "minimum": 1, "maximum": 2147483647}
TIME = {"type": "string", "format": "date-time", "nullable": True}
# One line of text: no control characters (so no CR/LF: nothing can reach a mail header).
ONE_LINE = "^[^\\u0000-\\u001f\\u007f]*$"
# Many lines: tabs and line breaks allowed, other control characters not.
MULTI_LINE = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"
CODE = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": ONE_LINE}
GROUP_CODE_NEW = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}
LINE = {"type": "string", "maxLength": 200, "pattern": ONE_LINE}
NAME = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ONE_LINE}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict, required: list[str] | None = None, extra: bool = False) -> dict:
    schema = {"type": "object", "properties": props, "additionalProperties": extra}
    if required:
        schema["required"] = required
    return schema


def _list_of(name: str, paged: bool = True) -> dict:
    props: dict[str, dict[str, object]] = {"items": {"type": "array", "items": _ref(name)}}
    if paged:
        props["next_cursor"] = {
            "type": "string",
            "nullable": True,
            "description": "pass as ?cursor= for the next page",
        }
    return _obj(props, list(props))


ERROR_TEXT = {
    400: "Breaks this document (wrong type, unknown field, bad syntax)",
    401: "No or bad API token",
    403: "The token lacks the scope",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "Body too large (2 MB)",
    415: "Body is not JSON",
    422: "Well-formed but refused: a text that does not parse, an unknown group, "
    "an issue not approved, a time in the past",
}


def _op(
    summary: str,
    scopes: list[str],
    ok: dict,
    errors: list[int],
    *,
    body: str | None = None,
    params: list[dict] | None = None,
    op_id: str,
) -> dict:
    responses = {
        str(code): {
            "description": desc,
            **({"content": {"application/json": {"schema": _ref(schema)}}} if schema else {}),
        }
        for code, (desc, schema) in ok.items()
    }
    for code in sorted({401, 403, *errors} if scopes is not None else set(errors)):
        responses[str(code)] = {
            "description": ERROR_TEXT[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    op = {
        "operationId": op_id,
        "summary": summary,
        "responses": responses,
        "security": [{"bearer": []}],
        "x-scopes": scopes or ["any"],
    }
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    if params:
        op["parameters"] = params
    return op


def _path(name: str, schema: dict) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "makes a retry safe: the same key (per token's owner) "
    "answers with the send it created",
}


def _query(name: str, schema: dict, description: str = "") -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


PAGING = [
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "page size (default 50)"),
    _query(
        "cursor",
        {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "next_cursor of the previous page (another value: 422)",
    ),
]

TOTALS = _obj(
    {
        k: {"type": "integer"}
        for k in (
            "total",
            "delivered",
            "failed",
            "bounced",
            "unique_opens",
            "opens",
            "unique_clicks",
            "clicks",
            "unsubscribes",
            "complaints",
        )
    }
    | {
        "key": {"type": "string"},
        **{
            k: {"type": "number"}
            for k in ("delivered_rate", "open_rate", "click_rate", "bounce_rate")
        },
    }
)

ISSUE_SUMMARY = {
    "number": {"type": "integer"},
    "date": {"type": "string", "format": "date"},
    "title": {"type": "string"},
    "status": {
        "type": "string",
        "enum": ["draft", "in_review", "approved", "scheduled", "sending", "sent"],
    },
    "sections": {"type": "integer"},
    "articles": {"type": "integer"},
    "updated_at": TIME,
}

SCHEMAS = {
    "Error": _obj(
        {
            "error": _obj(
                {
                    "status": {"type": "integer"},
                    "code": {
                        "type": "string",
                        "description": "stable machine key: branch on this, not on message",
                    },
                    "message": {
                        "type": "string",
                        "description": "for people, in the language of Accept-Language "
                        "(zh-CN by default, or en); its wording may change",
                    },
                    "line": {"type": "integer"},
                    "page": {"type": "integer", "nullable": True},
                    "where": {"type": "string", "description": "the place, said like message"},
                },
                ["status", "code", "message"],
            )
        },
        ["error"],
    ),
    "IssueSummary": _obj(ISSUE_SUMMARY, ["number", "date", "title", "status"]),
    "IssueDetail": _obj(
        {
            **ISSUE_SUMMARY,
            "publisher": {"type": "string"},
            "summary": {"type": "array", "items": {"type": "string"}},
            "content": {
                "type": "array",
                "items": _obj(
                    {
                        "name": {"type": "string"},
                        "articles": {
                            "type": "array",
                            "items": _obj(
                                {
                                    "title": {"type": "string"},
                                    "paragraphs": {"type": "array", "items": {"type": "string"}},
                                }
                            ),
                        },
                    }
                ),
            },
            "credits": {"type": "object"},
            "distribution": {"type": "object"},
            "editor_note": {"type": "string", "nullable": True},
            "approved_by": {"type": "string", "nullable": True},
            "approved_at": TIME,
        },
        ["number", "date", "title", "status", "content"],
    ),
    "IssueList": _list_of("IssueSummary"),
    "IssueImport": _obj(
        {
            "text": {
                "type": "string",
                "maxLength": 1048576,
                "pattern": MULTI_LINE,
                "description": "the issue's plain text; a text that does not parse is "
                "refused with 422 and where (line, or page and line)",
            },
            "file": {
                "type": "string",
                "format": "byte",
                "description": "instead of text: base64 of the file (.docx, PDF, or text "
                "in UTF-8, UTF-16 or GB18030), recognised by its content",
            },
            "dry_run": {
                "type": "boolean",
                "description": "parse and return the document and its warnings; store nothing",
            },
        }
    )
    | {"oneOf": [{"required": ["text"]}, {"required": ["file"]}]},
    "Warning": _obj(
        {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "line": {"type": "integer", "nullable": True},
            "level": {"type": "string", "enum": ["warning", "info"]},
            "data": {"type": "object"},
        },
        ["code", "message", "level"],
    ),
    "IssueImported": _obj(
        {
            "issue": _ref("IssueDetail"),
            "created": {"type": "boolean"},
            "document": {"type": "object"},
            "warnings": {"type": "array", "items": _ref("Warning")},
        },
        ["warnings"],
    ),
    "Subscriber": _obj(
        {
            "id": {"type": "integer"},
            "email": {"type": "string"},
            "name": {"type": "string"},
            "organisation": {"type": "string"},
            "status": {"type": "string"},
            "format": {"type": "string", "enum": ["html", "text"]},
            "locale": {"type": "string", "enum": ["zh_CN", "en"]},
            "groups": {"type": "array", "items": {"type": "string"}},
            "created_at": TIME,
            "confirmed_at": TIME,
        },
        ["id", "email", "status", "groups"],
    ),
    "SubscriberList": _list_of("Subscriber"),
    "SubscriberCreate": _obj(
        {
            "email": {
                "type": "string",
                "maxLength": 320,
                "description": "an address that does not validate is refused with 422",
            },
            "name": LINE,
            "organisation": LINE,
            "groups": {"type": "array", "items": CODE, "minItems": 1, "maxItems": 100},
            "status": {
                "type": "string",
                "enum": ["pending", "active"],
                "description": "pending (default) mails a confirmation link; active "
                "attests consent given elsewhere",
            },
            "format": {"type": "string", "enum": ["html", "text"]},
            "locale": {"type": "string", "enum": ["zh_CN", "en"]},
        },
        ["email", "groups"],
    ),
    "SubscriberUpdate": _obj(
        {
            "name": LINE,
            "organisation": LINE,
            "groups": {"type": "array", "items": CODE, "minItems": 1, "maxItems": 100},
            "format": {"type": "string", "enum": ["html", "text"]},
            "locale": {"type": "string", "enum": ["zh_CN", "en"]},
        }
    ),
    "Group": _obj(
        {
            "code": {"type": "string"},
            "name": {"type": "string"},
            "distribution": {"type": "string", "enum": ["报", "发"]},
            "is_priority": {"type": "boolean"},
            "self_service": {"type": "boolean"},
            "members": {"type": "integer"},
        },
        ["code", "name", "is_priority", "members"],
    ),
    "GroupList": _list_of("Group", paged=False),
    "GroupCreate": _obj(
        {
            "code": GROUP_CODE_NEW,
            "name": NAME,
            "distribution": {"type": "string", "enum": ["报", "发"]},
            "is_priority": {"type": "boolean"},
            "self_service": {"type": "boolean"},
        },
        ["code", "name"],
    ),
    "GroupUpdate": _obj({"name": NAME, "is_priority": {"type": "boolean"}}),
    "GroupMerge": _obj({"into": CODE}, ["into"]),
    "GroupMerged": _obj({"group": _ref("Group"), "added": {"type": "integer"}}, ["group", "added"]),
    "Send": _obj(
        {
            "id": {"type": "integer"},
            "issue": {"type": "integer"},
            "status": {
                "type": "string",
                "enum": ["scheduled", "queued", "sending", "paused", "cancelled", "done"],
            },
            "groups": {"type": "array", "items": {"type": "string"}},
            "is_test": {"type": "boolean"},
            "created_by": {"type": "string"},
            "created_at": TIME,
            "scheduled_at": TIME,
            "started_at": TIME,
            "finished_at": TIME,
            "progress": _obj(
                {
                    **{
                        k: {"type": "integer"}
                        for k in ("total", "sent", "failed", "deferred", "cancelled", "remaining")
                    },
                    "rate_per_second": {
                        "type": "number",
                        "nullable": True,
                        "description": "since the send started",
                    },
                    "recent_rate_per_second": {
                        "type": "number",
                        "nullable": True,
                        "description": "over the last minute",
                    },
                    "eta_seconds": {"type": "integer", "nullable": True},
                }
            ),
        },
        ["id", "issue", "status", "progress"],
    ),
    "SendList": _list_of("Send"),
    "SendCreate": _obj(
        {
            "issue": INT32,
            "groups": {
                "type": "array",
                "items": CODE,
                "minItems": 1,
                "maxItems": 100,
                "description": "default: every group",
            },
            "scheduled_at": {
                "type": "string",
                "format": "date-time",
                "nullable": True,
                "description": "with a zone offset; omit to send now",
            },
            "only_new": {
                "type": "boolean",
                "description": "only readers who have not received "
                "this issue yet (a follow-up); without it a send that would reach "
                "readers who already have the issue is refused with 409",
            },
        },
        ["issue"],
    ),
    "Schedule": _obj({"scheduled_at": {"type": "string", "format": "date-time"}}, ["scheduled_at"]),
    "Totals": TOTALS,
    "SendReport": _obj(
        {
            "send_id": {"type": "integer"},
            "totals": _ref("Totals"),
            "by_edition": {"type": "array", "items": _ref("Totals")},
        },
        ["send_id", "totals", "by_edition"],
    ),
}

E, R, S, A = "editor", "reviewer", "sender", "admin"
NUMBER, SUB_ID, SEND_ID = (
    _path("number", INT32),
    _path("subscriber_id", INT32),
    _path("send_id", INT32),
)
GROUP_CODE = _path("code", CODE)


def paths() -> dict:
    def ok(code, desc, schema=None):
        return {code: (desc, schema)}

    return {
        "/issues": {
            "get": _op(
                "List issues, newest first",
                [],
                ok(200, "A page", "IssueList"),
                [400, 422],
                params=PAGING,
                op_id="listIssues",
            ),
            "post": _op(
                "Import an issue from text, .docx or PDF (replaces a draft of that "
                "number); dry_run only parses",
                [E],
                {201: ("Created", "IssueImported"), 200: ("Draft replaced", "IssueImported")},
                [400, 409, 413, 415, 422],
                body="IssueImport",
                op_id="importIssue",
            ),
        },
        "/issues/{number}": {
            "get": _op(
                "One issue with its content and review state",
                [],
                ok(200, "The issue", "IssueDetail"),
                [404],
                params=[NUMBER],
                op_id="getIssue",
            )
        },
        "/subscribers": {
            "get": _op(
                "List subscribers, newest first",
                [E],
                ok(200, "A page", "SubscriberList"),
                [400, 422],
                params=PAGING
                + [
                    _query("q", LINE),
                    _query("group", CODE),
                    _query(
                        "status",
                        {
                            "type": "string",
                            "enum": [
                                "pending",
                                "active",
                                "paused",
                                "unsubscribed",
                                "bounced",
                                "suppressed",
                            ],
                        },
                    ),
                ],
                op_id="listSubscribers",
            ),
            "post": _op(
                "Add a subscriber",
                [E],
                ok(201, "Created", "Subscriber"),
                [400, 409, 413, 415, 422],
                body="SubscriberCreate",
                op_id="createSubscriber",
            ),
        },
        "/subscribers/{subscriber_id}": {
            "get": _op(
                "One subscriber",
                [E],
                ok(200, "The subscriber", "Subscriber"),
                [404],
                params=[SUB_ID],
                op_id="getSubscriber",
            ),
            "patch": _op(
                "Change a subscriber",
                [E],
                ok(200, "Changed", "Subscriber"),
                [400, 404, 413, 415, 422],
                body="SubscriberUpdate",
                params=[SUB_ID],
                op_id="updateSubscriber",
            ),
            "delete": _op(
                "Erase a subscriber's personal data (the address stays suppressed)",
                [E],
                ok(204, "Erased"),
                [404],
                params=[SUB_ID],
                op_id="deleteSubscriber",
            ),
        },
        "/groups": {
            "get": _op(
                "Every group with its member count",
                [],
                ok(200, "The groups", "GroupList"),
                [],
                op_id="listGroups",
            ),
            "post": _op(
                "Create a group",
                [A],
                ok(201, "Created", "Group"),
                [400, 409, 413, 415, 422],
                body="GroupCreate",
                op_id="createGroup",
            ),
        },
        "/groups/{code}": {
            "patch": _op(
                "Rename a group or set its priority flag",
                [A],
                ok(200, "Changed", "Group"),
                [400, 404, 409, 413, 415, 422],
                body="GroupUpdate",
                params=[GROUP_CODE],
                op_id="updateGroup",
            )
        },
        "/groups/{code}/merge": {
            "post": _op(
                "Merge this group into another (this one is deleted)",
                [A],
                ok(200, "Merged", "GroupMerged"),
                [400, 404, 413, 415, 422],
                body="GroupMerge",
                params=[GROUP_CODE],
                op_id="mergeGroup",
            )
        },
        "/sends": {
            "get": _op(
                "List sends, newest first",
                [],
                ok(200, "A page", "SendList"),
                [400, 422],
                params=PAGING + [_query("issue", INT32)],
                op_id="listSends",
            ),
            "post": _op(
                "Send an approved issue now or at scheduled_at",
                [S],
                ok(
                    201,
                    "Created (or, for a repeated Idempotency-Key, the send it "
                    "created, with Idempotent-Replayed: true)",
                    "Send",
                ),
                [400, 404, 409, 413, 415, 422],
                body="SendCreate",
                params=[IDEMPOTENCY_KEY],
                op_id="createSend",
            ),
        },
        "/sends/{send_id}": {
            "get": _op(
                "A send with its progress",
                [],
                ok(200, "The send", "Send"),
                [404],
                params=[SEND_ID],
                op_id="getSend",
            )
        },
        **{
            f"/sends/{{send_id}}/{action}": {
                "post": _op(
                    f"{action.capitalize()} a send",
                    [S],
                    ok(200, "Done", "Send"),
                    [404, 409],
                    params=[SEND_ID],
                    op_id=f"{action}Send",
                )
            }
            for action in ("pause", "resume", "cancel")
        },
        "/sends/{send_id}/schedule": {
            "post": _op(
                "Move a scheduled send",
                [S],
                ok(200, "Moved", "Send"),
                [400, 404, 409, 413, 415, 422],
                body="Schedule",
                params=[SEND_ID],
                op_id="scheduleSend",
            )
        },
        "/reports/sends/{send_id}": {
            "get": _op(
                "Delivery and engagement totals of a send",
                [],
                ok(200, "The report", "SendReport"),
                [404],
                params=[SEND_ID],
                op_id="getSendReport",
            )
        },
    }


def document() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "行业动态周报 · 订阅服务 API",
            "version": "1.0.0",
            "description": "Token-authenticated JSON API. Make a token at /staff/tokens "
            "and send it as `Authorization: Bearer <token>`. A token "
            "can do what its scopes and its owner's roles both allow "
            "(`x-scopes`; `any` = any valid token). Errors are "
            '`{"error": {"status", "code", "message"}}`: `code` is the stable '
            "machine key, so branch on it, not on `message`, which is for people and "
            "follows the request's `Accept-Language` (zh-CN by default, or en; the "
            "response's `Content-Language` says which). Lists page by cursor: pass "
            "`next_cursor` back as `?cursor=`.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
