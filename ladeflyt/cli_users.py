"""`ladeflyt user add|list|update|token` and `ladeflyt token add`: drivers and their tags.

Customer groups are memberships of an organisation (`ladeflyt member add`, cli_orgs).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.invoicing import channels as channel_rules
from core.models import User
from core.orgs import repository
from core.orgs.audit import record, snapshot
from core.timeutil import utcnow
from core.users import directory
from core.users.account import AccountError, update_profile
from core.users.service import UserError, add_id_token, add_user, get_user_by_phone
from ladeflyt.cli_invoices import delivery_decision
from ladeflyt.console import cli_actor, in_transaction


async def _user(session: AsyncSession, phone: str) -> User:
    user = await get_user_by_phone(session, phone)
    if user is None:
        raise UserError(f"no user with phone {phone}")
    return user


def cmd_add(args: argparse.Namespace, settings: Settings) -> None:
    if args.group not in (None, "public"):
        raise UserError(
            "customer groups are memberships of an organisation now: "
            f"ladeflyt member add {args.phone} --org ORG --group {args.group}"
        )

    async def work(session: AsyncSession) -> str:
        user = await add_user(session, args.phone, name=args.name, email=args.email)
        return user.phone

    print(f"user {in_transaction(settings, work)} added")


def cmd_list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[directory.DriverRow]:
        org_id = None
        if args.org:
            org_id = (await repository.find_organisation(session, cli_actor(), args.org)).id
        return await directory.list_drivers(
            session, search=args.search, organisation_id=org_id, at=utcnow(), limit=args.limit
        )

    rows = in_transaction(settings, work)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": r.user.id,
                        "phone": r.user.phone,
                        "name": r.user.name,
                        "email": r.user.email,
                        "language": r.user.language,
                        "pays_by": r.pays_by,
                        "invoice_channel": r.user.invoice_channel,
                        "tags": r.tags,
                        "memberships": r.memberships,
                    }
                    for r in rows
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    if not rows:
        print("no users")
        return
    print(f"{'phone':<13} {'name':<22} {'e-mail':<26} lang {'pays by':<7} tags  memberships")
    for r in rows:
        u = r.user
        print(
            f"{u.phone:<13} {u.name[:22]:<22} {(u.email or '-')[:26]:<26} {u.language:<4} "
            f"{r.pays_by:<7} {r.tags:>4}  {'; '.join(r.memberships) or '-'}"
        )


def cmd_update(args: argparse.Namespace, settings: Settings) -> None:
    """One command for the profile (name, language) and the invoice delivery (e-mail,
    channel, receipts), which core.invoicing.channels checks together."""

    async def work(session: AsyncSession) -> tuple[User, channel_rules.ChannelDecision | None]:
        user = await _user(session, args.phone)
        before = snapshot(user)
        try:
            if args.name is not None or args.language is not None:
                await update_profile(session, user, name=args.name, language=args.language)
            await channel_rules.update_invoice_delivery(
                session,
                user,
                email=args.email,
                invoice_channel=args.invoice_channel,
                receipt_by_email=args.receipt_by_email,
            )
        except AccountError as error:
            raise UserError(str(error)) from None
        after = snapshot(user)
        if after != before:
            await record(
                session, cli_actor(), "driver.update", "driver", user.id, None,
                before=before, after=after,
            )  # fmt: skip
        return user, await delivery_decision(session, user.id)

    user, decision = in_transaction(settings, work)
    changed = []
    if args.name is not None:
        changed.append(f"name {user.name or '-'}")
    if args.language is not None:
        changed.append(f"language {user.language}")
    changed += [f"e-mail {user.email or '-'}", f"invoice channel {user.invoice_channel}"]
    print(f"user {user.phone} updated: {', '.join(changed)}")
    if decision is not None and decision.fallback:
        print(f"invoices go by {decision.channel}: {decision.reason}")


def cmd_token(args: argparse.Namespace, settings: Settings) -> None:
    from core.users.auth import AuthService
    from notifications.console import ConsoleSmsSender

    auth = AuthService(settings, ConsoleSmsSender())

    async def work(session: AsyncSession) -> str:
        tokens = await auth.access_token_for(session, args.phone)
        return tokens.access_token

    print(in_transaction(settings, work))


def cmd_token_add(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> str:
        token = await add_id_token(
            session, args.id_tag, await _user(session, args.user), label=args.label
        )
        return token.token

    print(f"token {in_transaction(settings, work)} added")


def register(sub: Any) -> None:
    """`ladeflyt user ...` and `ladeflyt token ...` on the `ladeflyt` parser."""
    user = sub.add_parser("user", help="users (drivers)").add_subparsers(dest="u", required=True)
    p = user.add_parser("add", help="add a user")
    p.add_argument("phone")
    p.add_argument("--name", default="")
    p.add_argument("--group", default=None, help=argparse.SUPPRESS)  # now `member add`
    p.add_argument("--email", default=None)
    p.set_defaults(func=cmd_add)

    p = user.add_parser("list", help="list users: how they pay, tags, memberships")
    p.add_argument("--search", default=None, help="part of a name, phone or e-mail")
    p.add_argument("--org", default=None, help="only members of this organisation")
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = user.add_parser(
        "update",
        help="change a user's name, language, e-mail, invoice delivery",
        description="Customer groups are memberships now: `ladeflyt member add`.",
    )
    p.add_argument("phone")
    p.add_argument("--name", default=None)
    p.add_argument("--language", default=None, choices=["nb", "en"], help="SMS, e-mail, pages")
    p.add_argument("--email", default=None, help="'' removes it")
    p.add_argument("--invoice-channel", default=None, choices=list(channel_rules.CHANNELS))
    p.add_argument("--receipt-by-email", action=argparse.BooleanOptionalAction, default=None)
    p.set_defaults(func=cmd_update)

    p = user.add_parser("token", help="print a fresh access token for a user (for scripts)")
    p.add_argument("phone")
    p.set_defaults(func=cmd_token)

    token = sub.add_parser("token", help="id tokens").add_subparsers(dest="t", required=True)
    p = token.add_parser("add", help="add an RFID tag to a user")
    p.add_argument("id_tag")
    p.add_argument("--user", required=True, help="the user's phone")
    p.add_argument("--label", default="")
    p.set_defaults(func=cmd_token_add)
