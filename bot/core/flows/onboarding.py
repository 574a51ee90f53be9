"""The onboarding flow: welcome, consent (declining keeps nothing), then the home province."""

from __future__ import annotations

from bot.core import words
from bot.core.catalog import ref
from bot.core.conversation import MENU_BUTTONS, Event, btn, stamp
from bot.core.effects import Consent, ForgetMe, UpdateContact
from bot.core.model import InboundKind, Reply
from bot.core.state import Flow, State


def consent(ev: Event) -> None:
    ctx, turn, inbound = ev.ctx, ev.turn, ev.inbound
    choice: str | None = None
    if ev.tap is not None and ev.tap.step == "consent":
        choice = ev.tap.value
    elif inbound.kind == InboundKind.TEXT:
        w = words.word(inbound.text)
        choice = {"accept": "accept", "decline": "decline", "yes": "accept", "no": "decline"}.get(w or "")
    if ev.flow == Flow.CONSENT and choice == "accept":
        turn.effects.append(Consent(True))
        turn.state = State(flow=Flow.HOME, stamp=stamp(ctx, 0))
        turn.replies.append(Reply("onboarding.thanks"))
        turn.replies.append(home_question(turn.state))
        return
    if ev.flow == Flow.CONSENT and choice == "decline":
        turn.effects.append(ForgetMe())
        turn.replies.append(Reply("onboarding.declined"))
        turn.save = False
        return
    new = stamp(ctx, 0)
    turn.state = State(flow=Flow.CONSENT, stamp=new)
    if inbound.kind == InboundKind.TEXT and len(inbound.text.strip()) > 30:
        # Nothing of what was said before consent is kept; tell them so they can resend.
        turn.replies.append(Reply("onboarding.not_kept"))
    elif inbound.kind == InboundKind.MEDIA:
        turn.replies.append(Reply("media.not_kept_consent"))
    turn.replies.append(Reply("onboarding.welcome"))
    turn.replies.append(
        Reply(
            "onboarding.consent",
            consent_params(inbound.channel, ctx.privacy_url),
            buttons=(
                btn("button.accept", f"{new}:consent:accept"),
                btn("button.decline", f"{new}:consent:decline"),
            ),
        )
    )


#: what the consent text says the platform knows, per channel (web chat: a pseudonymous browser id)
IDENTITY = {
    "line": "privacy.identity.line",
    "telegram": "privacy.identity.telegram",
    "webchat": "privacy.identity.webchat",
    "console": "privacy.identity.console",
}


def consent_params(channel: str, privacy_url: str) -> dict[str, object]:
    return {"identity": ref(IDENTITY.get(channel, IDENTITY["line"])), "privacy_url": privacy_url}


def home_question(st: State) -> Reply:
    return Reply("onboarding.home_province", buttons=(btn("button.skip", f"{st.stamp}:home:skip"),))


def home(ev: Event) -> None:
    st, ctx, turn, inbound = ev.st, ev.ctx, ev.turn, ev.inbound
    if (ev.tap is not None and ev.tap.value == "skip") or words.word(inbound.text) == "skip":
        turn.state = State(flow=Flow.MENU, stamp=stamp(ctx, 0))
        turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))
        return
    found = ctx.understanding.parse_province(inbound.text) if inbound.text.strip() else None
    if found is None:
        turn.replies.append(Reply("onboarding.home_unknown"))
        turn.replies.append(home_question(st))
        return
    turn.effects.append(UpdateContact({"home_province": found[0]}))
    turn.state = State(flow=Flow.MENU, stamp=stamp(ctx, 0))
    turn.replies.append(Reply("onboarding.home_saved", {"province": found[0]}, buttons=MENU_BUTTONS))
