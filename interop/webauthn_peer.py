"""WebAuthn peer: py_webauthn (Duo Labs) verifies an assertion as a relying party.

Reads one JSON object on stdin:
  {"credential_id", "authenticator_data", "client_data_json", "signature",
   "challenge", "cose_public_key"}  (all unpadded base64url)
  "rp_id", "origin"                  (strings)
Prints "ok SIGN_COUNT" when py_webauthn accepts it, or "refused: REASON" (exit 1).
Run by crates/sealgate-authority/tests/authority.rs from .venv-interop.
"""
import base64
import json
import sys

from webauthn import verify_authentication_response
from webauthn.helpers.structs import AuthenticationCredential, AuthenticatorAssertionResponse


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def main():
    req = json.load(sys.stdin)
    raw_id = unb64u(req["credential_id"])
    credential = AuthenticationCredential(
        id=req["credential_id"],
        raw_id=raw_id,
        response=AuthenticatorAssertionResponse(
            client_data_json=unb64u(req["client_data_json"]),
            authenticator_data=unb64u(req["authenticator_data"]),
            signature=unb64u(req["signature"]),
            user_handle=None,
        ),
    )
    try:
        v = verify_authentication_response(
            credential=credential,
            expected_challenge=unb64u(req["challenge"]),
            expected_rp_id=req["rp_id"],
            expected_origin=req["origin"],
            credential_public_key=unb64u(req["cose_public_key"]),
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except Exception as e:  # the peer's refusal, whatever its class
        print(f"refused: {type(e).__name__}: {e}")
        sys.exit(1)
    print(f"ok {v.new_sign_count}")


if __name__ == "__main__":
    main()
