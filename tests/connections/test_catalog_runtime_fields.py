"""The spec fields the recipe runtime reads: a trigger's `newest_first`, `created_field` and webhook `signature`, an
action's `idempotent` and `idempotency_header`, and the generic "Make request" every connector offers (its key is
reserved). A spec that gets them wrong is refused at load time with a ``file: path: problem`` message.

Pure Python (no database), like tests/connections/test_catalog_validation.py, whose valid spec these start from.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from connections.catalog import MAKE_REQUEST, build_registry, parse_spec_text
from tests.connections.test_catalog_validation import problems_for, spec_with, write

WEBHOOK = {"key": "thing_changed", "name": "Thing changed", "kind": "webhook",
           "output": [{"name": "id", "label": "ID"}]}
SECRET_FIELDS = {"webhook_secret": {"label": "Webhook signing secret", "required": False}}


def with_webhook(signature: dict | None = None, **trigger) -> dict:
    data = spec_with(secret_fields=SECRET_FIELDS)
    data["triggers"].append({**WEBHOOK, **trigger, **({"signature": signature} if signature else {})})
    return data


# --- signature ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signature", [
    {"scheme": "hmac_sha256", "secret": "webhook_secret", "header": "X-Hub-Signature-256", "prefix": "sha256="},
    {"scheme": "hmac_sha256", "secret": "webhook_secret", "header": "X-Shopify-Hmac-Sha256", "encoding": "base64"},
    {"scheme": "stripe", "secret": "webhook_secret", "tolerance": 600},
    {"scheme": "standard_webhooks", "secret": "webhook_secret"},
])
def test_each_signature_scheme_loads(tmp_path: Path, signature: dict) -> None:
    assert problems_for(write(tmp_path / "acme.yaml", with_webhook(signature))) == []


def test_the_signing_secret_must_be_one_of_the_secret_fields(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.yaml", with_webhook({"scheme": "stripe", "secret": "signing_key"}))
    assert problems_for(f) == [f"{f}: triggers.1.signature.secret: 'signing_key' is not one of the secret_fields"]
    # A setting is stored in plain text: it cannot hold a signing secret either.
    data = with_webhook({"scheme": "stripe", "secret": "subdomain"})
    f = write(tmp_path / "setting.yaml", data)
    assert problems_for(f) == [f"{f}: triggers.1.signature.secret: 'subdomain' is not one of the secret_fields"]


def test_only_webhook_triggers_are_signed(tmp_path: Path) -> None:
    data = spec_with(secret_fields=SECRET_FIELDS)
    data["triggers"][0]["signature"] = {"scheme": "standard_webhooks", "secret": "webhook_secret"}
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [f"{f}: triggers.0.signature: only webhook triggers are signed"]


def test_an_hmac_signature_names_its_header(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.yaml", with_webhook({"scheme": "hmac_sha256", "secret": "webhook_secret"}))
    assert problems_for(f) == [
        f"{f}: triggers.1.signature.header: Field required for hmac_sha256 (the header the app signs in)"]


def test_every_signature_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    data = spec_with(secret_fields=SECRET_FIELDS)
    data["triggers"][0]["signature"] = {"scheme": "hmac_sha256", "secret": "nope"}
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [
        f"{f}: triggers.0.signature: only webhook triggers are signed",
        f"{f}: triggers.0.signature.secret: 'nope' is not one of the secret_fields",
        f"{f}: triggers.0.signature.header: Field required for hmac_sha256 (the header the app signs in)",
    ]


@pytest.mark.parametrize("signature, problem", [
    ({"scheme": "sha1", "secret": "webhook_secret"},
     "signature.scheme: Input should be 'hmac_sha256', 'stripe' or 'standard_webhooks'"),
    ({"scheme": "stripe", "secret": "webhook_secret", "tolerance": 5},
     "signature.tolerance: Input should be greater than or equal to 30"),
    ({"scheme": "stripe", "secret": "webhook_secret", "tolerance": 86_401},
     "signature.tolerance: Input should be less than or equal to 86400"),
    ({"scheme": "hmac_sha256", "secret": "webhook_secret", "header": "X Sig"}, "signature.header: String should match"),
    ({"scheme": "hmac_sha256", "secret": "webhook_secret", "header": "X-Sig", "encoding": "base32"},
     "signature.encoding: Input should be 'hex' or 'base64'"),
    ({"scheme": "stripe", "secret": "webhook_secret", "algorithm": "sha512"}, "signature.algorithm: unknown field"),
])
def test_signature_fields_are_checked(tmp_path: Path, signature: dict, problem: str) -> None:
    f = write(tmp_path / "bad.yaml", with_webhook(signature))
    (found,) = problems_for(f)
    assert found.startswith(f"{f}: triggers.1.{problem}")


def test_a_signature_names_its_default_header():
    spec = parsed(with_webhook({"scheme": "stripe", "secret": "webhook_secret"}))
    assert spec.operation("thing_changed").signature.signature_header == "Stripe-Signature"
    spec = parsed(with_webhook({"scheme": "standard_webhooks", "secret": "webhook_secret"}))
    assert spec.operation("thing_changed").signature.signature_header == "webhook-signature"


# --- poll triggers: newest_first, created_field -------------------------------------------------------------------


def test_created_field_is_one_of_the_outputs(tmp_path: Path) -> None:
    data = spec_with()
    data["triggers"][0]["created_field"] = "created_at"
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [f"{f}: triggers.0.created_field: 'created_at' is not one of the outputs"]
    data["triggers"][0]["output"].append({"name": "created_at", "label": "Created", "type": "datetime"})
    data["triggers"][0]["newest_first"] = True
    assert problems_for(write(tmp_path / "good.yaml", data)) == []


def test_newest_first_and_created_field_are_for_poll_triggers(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.yaml", with_webhook(newest_first=True))
    assert problems_for(f) == [f"{f}: triggers.1.kind: newest_first and created_field are for poll triggers"]


def test_newest_first_turns_the_records_around():
    data = spec_with()
    data["triggers"][0].update(newest_first=True, items_path="data")
    trigger = parsed(data).operation("new_thing")
    assert trigger.records({"data": [{"id": 3}, {"id": 2}, {"id": 1}]}) == [{"id": 1}, {"id": 2}, {"id": 3}]


# --- actions: idempotent, idempotency_header, and Make request ---------------------------------------------


def test_which_actions_are_safe_to_repeat():
    data = spec_with()
    data["actions"] += [
        {"key": "put_thing", "name": "Put", "method": "PUT", "path": "/things/x"},
        {"key": "upsert_thing", "name": "Upsert", "method": "POST", "path": "/things", "idempotent": True},
        {"key": "send_thing", "name": "Send", "method": "PUT", "path": "/send", "idempotent": False},
        {"key": "create_once", "name": "Create once", "method": "POST", "path": "/things",
         "idempotency_header": "Idempotency-Key"},
    ]
    spec = parsed(data)
    safe = {action.key: action.safe_to_repeat for action in spec.actions}
    assert safe == {"create_thing": False, "put_thing": True, "upsert_thing": True, "send_thing": False,
                    "create_once": False}  # the header makes a retry safe, not the action: the runner sends it
    assert spec.operation("create_once").idempotency_header == "Idempotency-Key"


def test_an_idempotency_header_is_a_header_name(tmp_path: Path) -> None:
    data = spec_with()
    data["actions"][0]["idempotency_header"] = "Idempotency Key"
    (found,) = problems_for(write(tmp_path / "bad.yaml", data))
    assert "actions.0.idempotency_header: String should match pattern" in found


def test_make_request_is_reserved_and_offered_by_every_connector(tmp_path: Path) -> None:
    data = spec_with()
    data["actions"].append({"key": MAKE_REQUEST, "name": "My own", "method": "GET", "path": "/x"})
    f = write(tmp_path / "bad.yaml", data)
    assert problems_for(f) == [
        f"{f}: actions.1.key: duplicate operation key 'make_request' (also the generic “Make request” every "
        "connector offers)"]
    for spec in build_registry().all():
        assert spec.all_actions[-1].key == MAKE_REQUEST
        assert spec.operation(MAKE_REQUEST).name == "Make request"
        assert MAKE_REQUEST not in {action.key for action in spec.actions}


# --- the built-in catalog ---------------------------------------------------------------------------------------


def test_the_built_in_webhook_triggers_that_apps_sign_are_checked():
    registry = build_registry()
    signed = {(spec.key, trigger.key): (trigger.signature.scheme, trigger.signature.signature_header,
                                        trigger.signature.prefix, trigger.signature.encoding)
              for spec in registry.all() for trigger in spec.triggers if trigger.signature is not None}
    assert signed == {
        ("github", "new_push"): ("hmac_sha256", "X-Hub-Signature-256", "sha256=", "hex"),
        ("stripe", "new_event"): ("stripe", "Stripe-Signature", "", "hex"),
        ("shopify", "order_created"): ("hmac_sha256", "X-Shopify-Hmac-Sha256", "", "base64"),
    }
    for app, _ in signed:
        # Optional: the connections made before it existed, and those used only for actions, stay valid.
        field = registry.get(app).secret_fields["webhook_secret"]
        assert field.required is False and field.help


def parsed(data: dict):
    return parse_spec_text(yaml.safe_dump(data, sort_keys=False), source="acme.yaml")
