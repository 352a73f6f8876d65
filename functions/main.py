"""Cloud Functions (gen2) entry point: `webhook` answers the phone providers' webhooks.

Deployed with entry point `webhook` (infra/function.tf); run locally with
    functions-framework --source functions/main.py --target webhook
"""

import functions_framework
from flask import Request, Response

from webhook.routes import create_router

_router = create_router()  # reads settings once: a missing or invalid one fails here, at start-up


@functions_framework.http
def webhook(request: Request) -> Response:
    return _router(request)
