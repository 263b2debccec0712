"""E-mail over SMTP: STARTTLS (or implicit TLS), login, a text and an HTML part, Chinese subject.

`render` builds an `email.message.EmailMessage` (which encodes a non-ASCII subject as RFC 2047);
`send` talks to the server with the standard library's `smtplib` in a worker thread. The message id
is made from the idempotency key, so a mail sent twice after a lost answer is recognisably the same.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from alerts.receivers import text
from alerts.receivers.base import DeliveryError
from alerts.routing import Message, Receiver


def compose_mail(receiver: Receiver, subject: str, key: str, now: float, plain: str, html: str) -> EmailMessage:
    """A text and HTML mail to the receiver; its message id is made from the idempotency key."""
    mail = EmailMessage()
    mail["Subject"] = subject
    mail["From"] = str(receiver.options["from"])
    mail["To"] = ", ".join(receiver.options["to"])
    mail["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    mail["Message-ID"] = make_msgid(idstring=key, domain="campus-monitor")
    mail["X-Idempotency-Key"] = key
    mail.set_content(plain)
    mail.add_alternative(html, subtype="html")
    return mail


def render(receiver: Receiver, message: Message, now: float) -> EmailMessage:
    lang = receiver.language
    return compose_mail(receiver, text.title(message, lang), message.key, now, text.plain(message, lang),
                        text.as_html(message, lang))


def _send_blocking(receiver: Receiver, mail: EmailMessage) -> None:
    opts = receiver.options
    host, timeout = str(opts["host"]), receiver.timeout_s
    context = ssl.create_default_context()
    if opts.get("cafile"):
        context.load_verify_locations(opts["cafile"])
    if opts.get("ssl"):
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, int(opts.get("port", 465)), timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, int(opts.get("port", 587)), timeout=timeout)
    with client:
        if not opts.get("ssl") and opts.get("starttls", True):
            client.starttls(context=context)
        if opts.get("username"):
            client.login(str(opts["username"]), str(opts.get("password", "")))
        client.send_message(mail)


async def send(receiver: Receiver, message: Message, now: float) -> None:
    await send_mail(receiver, render(receiver, message, now))


async def send_mail(receiver: Receiver, mail: EmailMessage) -> None:
    """Send over SMTP in a worker thread; refusals for good are not retryable, the rest are."""
    try:
        await asyncio.to_thread(_send_blocking, receiver, mail)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"email {receiver.name}: login refused: {exc}", retryable=False) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"email {receiver.name}: recipients refused: {exc.recipients}", retryable=False) from exc
    except smtplib.SMTPResponseException as exc:
        retryable = exc.smtp_code < 500
        raise DeliveryError(f"email {receiver.name}: SMTP {exc.smtp_code} {exc.smtp_error!r}", retryable) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"email {receiver.name}: {type(exc).__name__}: {exc}", retryable=True) from exc
