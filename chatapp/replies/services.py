"""Writes for saved replies (admins): create, update, delete; and the variables they may use."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from chatapp.accounts.models import User
from chatapp.core.errors import Conflict, NotFound
from chatapp.replies.models import PLACEHOLDER_RE, VARIABLES, SavedReply

ERR_UNKNOWN_VARIABLE = "Unknown variable(s) {names}; use {allowed}."
ERR_DUPLICATE = "A saved reply with the shortcut /{shortcut} exists already."
ERR_NO_REPLY = "No such saved reply."


def _check_variables(body: str) -> None:
    unknown = sorted({m.group(1) for m in PLACEHOLDER_RE.finditer(body)} - set(VARIABLES))
    if unknown:
        raise ValidationError(
            {
                "body": ERR_UNKNOWN_VARIABLE.format(
                    names=", ".join(f"{{{n}}}" for n in unknown),
                    allowed=", ".join(f"{{{n}}}" for n in VARIABLES),
                )
            }
        )


def _save(reply: SavedReply, *, update_fields: list[str] | None = None) -> SavedReply:
    _check_variables(reply.body)
    reply.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            reply.save(update_fields=update_fields)
    except IntegrityError:
        # The unique shortcut: the database decides, so two admins racing get one 409.
        raise Conflict("duplicate", ERR_DUPLICATE.format(shortcut=reply.shortcut)) from None
    return reply


def saved_reply_create(*, shortcut: str, title: str, body: str, by: User | None) -> SavedReply:
    """Add a saved reply the whole team can use.

    Args:
        shortcut: Typed after ``/`` in the console's reply box (lower case, ``a-z0-9_-``).
        title: What the agent sees in the list of matches.
        body: The reply text, with ``{variable}`` placeholders among ``VARIABLES``.
        by: The admin adding it.

    Raises:
        ValidationError: A bad shortcut, an empty field or an unknown variable.
        Conflict: ``duplicate`` (409) when the shortcut is taken.
    """
    reply = SavedReply(shortcut=shortcut.strip().lower(), title=title.strip(), body=body.strip())
    reply.created_by = by
    return _save(reply)


def saved_reply_update(
    *,
    reply_id: int,
    shortcut: str | None = None,
    title: str | None = None,
    body: str | None = None,
) -> SavedReply:
    """Change some fields of a saved reply (None leaves a field as it is).

    Raises:
        NotFound: No such reply.
        ValidationError: As for ``saved_reply_create``.
        Conflict: ``duplicate`` (409) when the new shortcut is taken.
    """
    reply = SavedReply.objects.filter(pk=reply_id).first()
    if reply is None:
        raise NotFound(ERR_NO_REPLY)
    given = {"shortcut": shortcut, "title": title, "body": body}
    changed = [name for name, value in given.items() if value is not None]
    for name in changed:
        value = (given[name] or "").strip()
        setattr(reply, name, value.lower() if name == "shortcut" else value)
    if not changed:
        return reply
    return _save(reply, update_fields=[*changed, "updated_at"])


def saved_reply_delete(*, reply_id: int) -> None:
    """Delete a saved reply.

    Raises:
        NotFound: No such reply.
    """
    deleted, _ = SavedReply.objects.filter(pk=reply_id).delete()
    if not deleted:
        raise NotFound(ERR_NO_REPLY)
