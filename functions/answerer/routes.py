"""Routes each provider webhook (by method and path) to its handler."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from flask import Request, Response

from .answers import CallFacts, jambonz_verbs, twiml, vonage_ncco, voxology_call_flow
from .settings import Settings
from .signatures import twilio_problem, vonage_problem
from .tokens import issue_token

Handler = Callable[[Request], Response]


def log(severity: str, message: str, **fields: Any) -> None:
    """One JSON line that Cloud Logging reads."""
    print(json.dumps({"severity": severity, "message": message, **fields}, default=str), file=sys.stdout, flush=True)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error(status: int, message: str) -> Response:
    log("WARNING", message, status=status)
    return _json({"error": message}, status)


def _fields(request: Request) -> Mapping[str, Any]:
    """Webhook fields from the query string (GET), or the POST body: JSON (Vonage, Voxology) or a form (Twilio)."""
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


def create_router(settings: Settings | None = None) -> Handler:
    settings = settings or Settings.from_env()
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

    def unauthentic(request: Request) -> Response | None:
        """A 401 for a webhook that fails its provider's signature check, when one is configured."""
        problem = None
        if request.path.startswith("/vonage/") and settings.vonage_signature_secret:
            authorization = request.headers.get("Authorization", "")
            problem = vonage_problem(authorization, request.get_data(), settings.vonage_signature_secret)
        elif request.path.startswith("/twilio/") and twilio_keys:
            params = request.form.items(multi=True) if request.method == "POST" else []
            presented = {header: request.headers.get(header, "") for header in twilio_keys}
            problem = twilio_problem(presented, _public_url(request), params, twilio_keys)
        return _error(401, f"refused an unsigned webhook: {problem}") if problem else None

    def vonage_answer(request: Request) -> Response:
        fields = _fields(request)
        call_id = str(fields.get("uuid") or "")
        if not call_id:
            return _error(400, "the answer webhook carries no call uuid")
        call = CallFacts(
            call_id=call_id,
            caller=str(fields.get("from") or ""),
            callee=str(fields.get("to") or ""),
            conversation_id=str(fields.get("conversation_uuid") or ""),
        )
        ncco = vonage_ncco(
            call,
            recorder_url=settings.recorder_url,
            token=issue_token(settings.secret, call_id, "vonage"),
            sample_rate=settings.sample_rate,
            greeting=settings.greeting,
            event_url=f"{_base_url(request)}/vonage/event",
        )
        log("INFO", "answered call", provider="vonage", call_id=call_id)
        return _json(ncco)

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

    def twilio_answer(request: Request) -> Response:
        fields = _fields(request)
        call_id = str(fields.get("CallSid") or "")
        if not call_id:
            return _error(400, "the voice webhook carries no CallSid")
        call = CallFacts(call_id=call_id, caller=str(fields.get("From") or ""), callee=str(fields.get("To") or ""))
        document = twiml(
            call,
            recorder_url=settings.recorder_url,
            token=issue_token(settings.secret, call_id, "twilio"),
            greeting=settings.greeting,
            forward_to=settings.forward_to,
            max_seconds=settings.max_call_seconds,
        )
        log("INFO", "answered call", provider="twilio", call_id=call_id)
        return Response(document, mimetype="text/xml")

    def voxology_answer(request: Request) -> Response:
        fields = _fields(request)
        call_id = str(fields.get("call_id") or "")
        if not call_id:
            return _error(400, "the call webhook carries no call_id")
        call = CallFacts(
            call_id=call_id, caller=str(fields.get("caller_no") or ""), callee=str(fields.get("api_no") or "")
        )
        flow = voxology_call_flow(
            call,
            recorder_url=settings.recorder_url,
            token=issue_token(settings.secret, call_id, "voxology"),
            greeting=settings.greeting,
            max_seconds=settings.max_call_seconds,
        )
        log("INFO", "answered call", provider="voxology", call_id=call_id)
        return _json(flow)

    def jambonz_answer(request: Request) -> Response:
        fields = _fields(request)
        call_id = str(fields.get("call_sid") or "")
        if not call_id:
            return _error(400, "the call webhook carries no call_sid")
        call = CallFacts(call_id=call_id, caller=str(fields.get("from") or ""), callee=str(fields.get("to") or ""))
        verbs = jambonz_verbs(
            call,
            recorder_url=settings.recorder_url,
            token=issue_token(settings.secret, call_id, "jambonz"),
            sample_rate=settings.sample_rate,
            greeting=settings.greeting,
            forward_to=settings.forward_to,
            max_seconds=settings.max_call_seconds,
        )
        log("INFO", "answered call", provider="jambonz", call_id=call_id)
        return _json(verbs)

    routes: dict[tuple[str, str], Handler] = {
        ("GET", "/vonage/answer"): vonage_answer,
        ("POST", "/vonage/answer"): vonage_answer,
        ("POST", "/vonage/event"): vonage_event,
        ("GET", "/twilio/answer"): twilio_answer,
        ("POST", "/twilio/answer"): twilio_answer,
        ("POST", "/voxology/answer"): voxology_answer,
        ("POST", "/jambonz/answer"): jambonz_answer,
    }

    def route(request: Request) -> Response:
        handler = routes.get((request.method, request.path.rstrip("/")))
        if handler is not None:
            return unauthentic(request) or handler(request)
        known = sorted({path for _, path in routes})
        if request.path.rstrip("/") in known:
            return _error(405, f"{request.method} is not accepted on {request.path}")
        return _error(404, f"no webhook at {request.path[:80]}; try one of {', '.join(known)}")

    return route
