"""REST operations of saved replies: admins write them, every agent reads them."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from chatapp.accounts import permissions
from chatapp.api.responses import Deleted, answers
from chatapp.api.security import STAFF, staff_of
from chatapp.conversations import selectors as conv_selectors
from chatapp.replies import schemas, selectors, services
from chatapp.replies.models import SavedReply

router = Router(tags=["saved replies"])
ITEM = "/saved-replies/{int:reply_id}"


def _out(reply: SavedReply, text: str | None = None) -> schemas.SavedReplyOut:
    fields = {
        "id": reply.pk,
        "shortcut": reply.shortcut,
        "title": reply.title,
        "body": reply.body,
        "updated_at": reply.updated_at,
    }
    if text is not None:  # set only when filled in, so that it is left out otherwise
        return schemas.SavedReplyOut(**fields, text=text)
    return schemas.SavedReplyOut(**fields)


def _may(request: HttpRequest, action: permissions.Action) -> None:
    permissions.require(action, staff_of(request))


@router.get(
    "/saved-replies",
    auth=STAFF,
    url_name="saved-replies",
    response=answers({200: schemas.SavedReplyList}),
    exclude_unset=True,
    summary="The saved replies; q filters by shortcut prefix, conversation_id fills them in",
)
def saved_reply_list(
    request: HttpRequest, q: str = "", conversation_id: str | None = None
) -> schemas.SavedReplyList:
    _may(request, permissions.Action.SAVED_REPLY_READ)
    replies = selectors.saved_reply_list(query=q)
    if not conversation_id:
        return schemas.SavedReplyList(results=[_out(r) for r in replies])
    context = selectors.saved_reply_context(
        conversation=conv_selectors.conversation_get(conversation_id), agent=staff_of(request)
    )
    return schemas.SavedReplyList(
        results=[_out(r, selectors.saved_reply_render(r.body, context)) for r in replies],
        variables=context.as_dict(),
    )


@router.post(
    "/saved-replies",
    auth=STAFF,
    response=answers({201: schemas.SavedReplyOut}, 409, 415),
    exclude_unset=True,
    summary="Add a saved reply (admins)",
)
def saved_reply_create(
    request: HttpRequest, body: schemas.SavedReplyCreate
) -> Status[schemas.SavedReplyOut]:
    _may(request, permissions.Action.SAVED_REPLY_WRITE)
    reply = services.saved_reply_create(
        shortcut=body.shortcut, title=body.title, body=body.body, by=staff_of(request)
    )
    return Status(201, _out(reply))


@router.get(
    ITEM,
    auth=STAFF,
    response=answers({200: schemas.SavedReplyOut}),
    exclude_unset=True,
    summary="A saved reply",
)
def saved_reply_detail(request: HttpRequest, reply_id: int) -> schemas.SavedReplyOut:
    _may(request, permissions.Action.SAVED_REPLY_READ)
    return _out(selectors.saved_reply_get(reply_id))


@router.patch(
    ITEM,
    auth=STAFF,
    response=answers({200: schemas.SavedReplyOut}, 409, 415),
    exclude_unset=True,
    summary="Change a saved reply's shortcut, title or body (admins)",
)
def saved_reply_update(
    request: HttpRequest, reply_id: int, body: schemas.SavedReplyUpdate
) -> schemas.SavedReplyOut:
    _may(request, permissions.Action.SAVED_REPLY_WRITE)
    reply = services.saved_reply_update(
        reply_id=reply_id, shortcut=body.shortcut, title=body.title, body=body.body
    )
    return _out(reply)


@router.delete(ITEM, auth=STAFF, response=answers({200: Deleted}), summary="Delete (admins)")
def saved_reply_delete(request: HttpRequest, reply_id: int) -> Deleted:
    _may(request, permissions.Action.SAVED_REPLY_WRITE)
    services.saved_reply_delete(reply_id=reply_id)
    return Deleted(id=reply_id, deleted=True)
