"""Routes each provider webhook (by method and path) to its handler, after checking who sent it.

Every answer webhook is the same steps, so each is a row of data (`AnswerRoute`): where the call's id and
numbers are in its fields, which document answers it, and which stream path (`/ws/<provider>`) the token opens.

Who may be answered: with no signing key set at all (a local stack), every route answers. Once any is set, an
answer route answers only a caller it can verify with its own provider's key; a provider without one (Voxology
signs nothing; or a key not configured) gets 401 unless ALLOW_UNSIGNED names it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Request, Response
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from .answers import CallFacts, jambonz_verbs, plivo_xml, telnyx_texml, twiml, vonage_ncco, voxology_call_flow
from .settings import Settings
from .signatures import plivo_problem, telnyx_problem, telnyx_public_key, twilio_problem, vonage_problem
from .tokens import issue_token

Handler = Callable[[Request], Response]
Verifier = Callable[[Request], str | None]  # None: genuine; else why not


def log(severity: str, message: str, **fields: Any) -> None:
    """One JSON line that Cloud Logging reads."""
    print(json.dumps({"severity": severity, "message": message, **fields}, default=str), file=sys.stdout, flush=True)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error(status: int, message: str) -> Response:
    log("WARNING", message, status=status)
    return _json({"error": message}, status)


def _fields(request: Request) -> Mapping[str, Any]:
    """Webhook fields from the query string (GET), or the POST body: JSON (Vonage, Voxology) or a form."""
    if request.method != "POST":
        return request.args
    if request.is_json:
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else {}
    return request.form


def _base_url(request: Request) -> str:
    # Behind Cloud Run the request reaches us over HTTP; the provider used the forwarded scheme.
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    return f"{scheme}://{request.host}"


def _public_url(request: Request) -> str:
    """The URL the provider called, as it signed it."""
    query = request.query_string.decode()
    return f"{_base_url(request)}{request.path}" + (f"?{query}" if query else "")


def _form_pairs(request: Request) -> list[tuple[str, str]]:
    return list(request.form.items(multi=True)) if request.method == "POST" else []


@dataclass(frozen=True)
class AnswerRoute:
    stream: str  # the /ws/<stream> path the document points at: the token's `prov`
    call_id: str  # field names in the webhook
    caller: str
    callee: str
    document: Callable[[CallFacts, str, Settings, Request], Response]  # (call, token, settings, request)
    conversation_id: str = ""
    post_only_when_signed: bool = False  # the signature covers the body only (signatures.py)


def _vonage(call: CallFacts, token: str, settings: Settings, request: Request) -> Response:
    return _json(
        vonage_ncco(
            call,
            recorder_url=settings.recorder_url,
            token=token,
            sample_rate=settings.sample_rate,
            greeting=settings.greeting,
            event_url=f"{_base_url(request)}/vonage/event",
        )
    )


def _twilio(call: CallFacts, token: str, settings: Settings, request: Request) -> Response:
    document = twiml(
        call,
        recorder_url=settings.recorder_url,
        token=token,
        greeting=settings.greeting,
        forward_to=settings.forward_to,
        max_seconds=settings.max_call_seconds,
    )
    return Response(document, mimetype="text/xml")


def _voxology(call: CallFacts, token: str, settings: Settings, request: Request) -> Response:
    return _json(
        voxology_call_flow(
            call,
            recorder_url=settings.recorder_url,
            token=token,
            greeting=settings.greeting,
            max_seconds=settings.max_call_seconds,
        )
    )


def _telnyx(call: CallFacts, token: str, settings: Settings, request: Request) -> Response:
    document = telnyx_texml(
        call,
        recorder_url=settings.recorder_url,
        token=token,
        codec=settings.telnyx_codec,
        greeting=settings.greeting,
        forward_to=settings.forward_to,
        max_seconds=settings.max_call_seconds,
    )
    return Response(document, mimetype="text/xml")


def _plivo(call: CallFacts, token: str, settings: Settings, request: Request) -> Response:
    document = plivo_xml(
        call,
        recorder_url=settings.recorder_url,
        token=token,
        greeting=settings.greeting,
        forward_to=settings.forward_to,
        max_seconds=settings.max_call_seconds,
    )
    return Response(document, mimetype="text/xml")


def _jambonz(call: CallFacts, token: str, settings: Settings, request: Request) -> Response:
    verbs = jambonz_verbs(
        call,
        recorder_url=settings.recorder_url,
        token=token,
        sample_rate=settings.sample_rate,
        greeting=settings.greeting,
        forward_to=settings.forward_to,
        max_seconds=settings.max_call_seconds,
    )
    return _json(verbs)


ANSWERS: dict[str, AnswerRoute] = {
    "vonage": AnswerRoute("vonage", "uuid", "from", "to", _vonage, "conversation_uuid", post_only_when_signed=True),
    "twilio": AnswerRoute("twilio", "CallSid", "From", "To", _twilio),  # and SignalWire
    "voxology": AnswerRoute("voxology", "call_id", "caller_no", "api_no", _voxology),
    "telnyx": AnswerRoute("telnyx", "CallSid", "From", "To", _telnyx, post_only_when_signed=True),
    "plivo": AnswerRoute("plivo", "CallUUID", "From", "To", _plivo),
    "jambonz": AnswerRoute("jambonz", "call_sid", "from", "to", _jambonz),  # the application's call webhook
}
URLS = Map(
    [
        Rule("/vonage/answer", methods=["GET", "POST"], endpoint="vonage"),
        Rule("/vonage/event", methods=["POST"], endpoint="vonage-event"),
        Rule("/twilio/answer", methods=["GET", "POST"], endpoint="twilio"),
        Rule("/voxology/answer", methods=["POST"], endpoint="voxology"),
        Rule("/telnyx/answer", methods=["GET", "POST"], endpoint="telnyx"),
        Rule("/plivo/answer", methods=["GET", "POST"], endpoint="plivo"),
        Rule("/jambonz/answer", methods=["POST"], endpoint="jambonz"),
    ]
)


def verifiers(settings: Settings) -> dict[str, Verifier]:
    """provider -> its signature check, for each provider whose key is set."""
    checks: dict[str, Verifier] = {}
    if settings.vonage_signature_secret:
        secret = settings.vonage_signature_secret
        checks["vonage"] = lambda request: vonage_problem(
            request.headers.get("Authorization", ""), request.get_data(), secret
        )
    twilio_keys = {
        header: key
        for header, key in (
            ("X-Twilio-Signature", settings.twilio_auth_token),
            ("X-SignalWire-Signature", settings.signalwire_signing_key),
        )
        if key
    }
    if settings.signalwire_signing_key and not settings.twilio_auth_token:
        twilio_keys["X-Twilio-Signature"] = settings.signalwire_signing_key  # SignalWire sends both headers
    if twilio_keys:
        checks["twilio"] = lambda request: twilio_problem(
            {header: request.headers.get(header, "") for header in twilio_keys},
            _public_url(request),
            _form_pairs(request),
            twilio_keys,
        )
    if settings.telnyx_public_key:
        key = telnyx_public_key(settings.telnyx_public_key)
        checks["telnyx"] = lambda request: telnyx_problem(
            request.headers.get("telnyx-signature-ed25519", ""),
            request.headers.get("telnyx-timestamp", ""),
            request.get_data(),
            key,
        )
    if settings.plivo_auth_token:
        token = settings.plivo_auth_token
        checks["plivo"] = lambda request: plivo_problem(
            request.headers.get("X-Plivo-Signature-V3", ""),
            request.headers.get("X-Plivo-Signature-V3-Nonce", ""),
            token,
            request.method,
            _public_url(request),
            _form_pairs(request),
        )
    return checks


def vonage_event(request: Request) -> Response:
    event = request.get_json(silent=True)
    if not isinstance(event, dict):
        return _error(400, "the event webhook body is not a JSON object")
    log(
        "INFO",
        f"vonage event {event.get('status', '?')}",
        provider="vonage",
        call_id=event.get("uuid"),
        event={key: event[key] for key in list(event)[:30]},
    )
    return Response(status=204)


def create_router(settings: Settings | None = None) -> Handler:
    settings = settings or Settings.from_env()
    checks = verifiers(settings)
    urls = URLS.bind("")

    def refusal(provider: str, request: Request) -> Response | None:
        """Why this webhook gets no answer, if it does not."""
        check = checks.get(provider)
        if check is None:
            if settings.signing and provider in ANSWERS and provider not in settings.allow_unsigned:
                return _error(
                    401,
                    f"refused an unverifiable {provider} webhook: signing is on and {provider} has no key set "
                    f"(set its key, or ALLOW_UNSIGNED={provider} to answer it anyway)",
                )
            return None
        route = ANSWERS.get(provider)
        if route and route.post_only_when_signed and request.method != "POST":
            return _error(405, f"signed {provider} answer webhooks must use POST: a GET's signature covers no call")
        problem = check(request)
        return _error(401, f"refused an unsigned webhook: {problem}") if problem else None

    def answer(provider: str, request: Request) -> Response:
        route = ANSWERS[provider]
        fields = _fields(request)
        call_id = str(fields.get(route.call_id) or "")
        if not call_id:
            return _error(400, f"the {provider} answer webhook carries no {route.call_id}")
        call = CallFacts(
            call_id=call_id,
            caller=str(fields.get(route.caller) or ""),
            callee=str(fields.get(route.callee) or ""),
            conversation_id=str(fields.get(route.conversation_id) or "") if route.conversation_id else "",
        )
        response = route.document(call, issue_token(settings.secret, call_id, route.stream), settings, request)
        log("INFO", "answered call", provider=provider, call_id=call_id)
        return response

    def route(request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        try:
            endpoint, _ = urls.match(path, method=request.method)
        except MethodNotAllowed:
            return _error(405, f"{request.method} is not accepted on {path[:80]}")
        except NotFound:
            known = ", ".join(sorted(rule.rule for rule in URLS.iter_rules()))
            return _error(404, f"no webhook at {path[:80]}; try one of {known}")
        provider = str(endpoint).removesuffix("-event")
        refused = refusal(provider, request)
        if refused:
            return refused
        return vonage_event(request) if endpoint == "vonage-event" else answer(provider, request)

    return route
