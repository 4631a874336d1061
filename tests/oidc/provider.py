"""An OpenID provider on loopback for niji's tests: idpyoidc's server behind
Python's own HTTP server, with a signing key made at start, one registered
client (niji) and test users whose claims are synthetic persons.

    provider.py CONFIG.json

CONFIG names the client (`client_id`, `client_secret`, `redirect_uri`) and
the users (`users`: name -> {"password", "claims"}). The provider binds a
free loopback port, writes its state (keys, user files) into the config's
directory, and prints one line, `issuer http://127.0.0.1:PORT`, when it
serves.

`POST /test/tamper` with a JSON body {"mode": M} makes the next ID token the
token endpoint hands out differ: `bare` (valid, without the basic items,
which the userinfo endpoint then gives), or misbehave, as a hostile or
broken provider's would:
`other-key` (signed by a key the provider never published, under the
published key's id), `alg-none` (unsigned), `expired`, `audience` (for
another client), `nonce` (another request's), `issuer` (another
provider's). Only for tests: the login page and the tamper switch have no
protection worth the name.
"""

import http.server
import json
import os
import socket
import sys
import threading
import time
import traceback
import urllib.parse

from cryptojwt.jwk.rsa import new_rsa_key
from cryptojwt.jws.jws import JWS, factory
from cryptojwt.jws.utils import b64e
from idpyoidc.message.oidc import AccessTokenRequest
from idpyoidc.message.oidc import AuthorizationRequest
from idpyoidc.server import Server
from idpyoidc.server.configure import OPConfiguration
from idpyoidc.server.exception import FailedAuthentication
from idpyoidc.server.oidc.token import Token

LOGIN_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>{{ page_header }}</title></head>
<body><main><h1>{{ page_header }}</h1>
<form action="{{ action }}" method="post">
<input type="hidden" name="token" value="{{ token }}">
<p><label for="username">{{ user_label }}</label> <input id="username" name="username" autocomplete="off"></p>
<p><label for="password">{{ passwd_label }}</label> <input id="password" name="password" type="password"></p>
<p><button type="submit">{{ submit_btn }}</button></p>
</form></main></body></html>
"""


def configuration(issuer, home, users_file, passwords_file):
    return {
        "issuer": issuer,
        "httpc_params": {"verify": False, "timeout": 4},
        "keys": {
            "private_path": os.path.join(home, "jwks.json"),
            "key_defs": [{"type": "RSA", "use": ["sig"]}, {"type": "EC", "crv": "P-256", "use": ["sig"]}],
            "read_only": False,
            "uri_path": "jwks",
        },
        "template_dir": os.path.join(home, "templates"),
        "add_on": {
            "pkce": {
                "function": "idpyoidc.server.oauth2.add_on.pkce.add_support",
                "kwargs": {"essential": True, "code_challenge_method": "S256"},
            },
        },
        "authentication": {
            "user": {
                "acr": "urn:oasis:names:tc:SAML:2.0:ac:classes:InternetProtocolPassword",
                "class": "idpyoidc.server.user_authn.user.UserPassJinja2",
                "kwargs": {
                    "verify_endpoint": "verify/user",
                    "template": "login.jinja2",
                    "db": {
                        "class": "idpyoidc.server.util.JSONDictDB",
                        "kwargs": {"filename": passwords_file},
                    },
                    "page_header": "マイナンバーカードでログイン（試験用）",
                    "submit_btn": "ログイン",
                    "user_label": "利用者",
                    "passwd_label": "暗証番号",
                },
            }
        },
        "endpoint": {
            "provider_info": {
                "path": ".well-known/openid-configuration",
                "class": "idpyoidc.server.oidc.provider_config.ProviderConfiguration",
                "kwargs": {"client_authn_method": None},
            },
            "authorization": {
                "path": "authorization",
                "class": "idpyoidc.server.oidc.authorization.Authorization",
                "kwargs": {
                    "client_authn_method": None,
                    "response_types_supported": ["code"],
                    "response_modes_supported": ["query"],
                },
            },
            "token": {
                "path": "token",
                "class": "idpyoidc.server.oidc.token.Token",
                "kwargs": {"client_authn_method": ["client_secret_basic", "client_secret_post"]},
            },
            "userinfo": {
                "path": "userinfo",
                "class": "idpyoidc.server.oidc.userinfo.UserInfo",
                "kwargs": {},
            },
        },
        "token_handler_args": {
            "jwks_def": {
                "private_path": os.path.join(home, "token_jwks.json"),
                "read_only": False,
                "key_defs": [{"type": "oct", "bytes": "24", "use": ["enc"], "kid": "code"}],
            },
            "code": {"kwargs": {"lifetime": 600}},
            "token": {
                "class": "idpyoidc.server.token.jwt_token.JWTToken",
                "kwargs": {"lifetime": 3600},
            },
            "id_token": {
                "class": "idpyoidc.server.token.id_token.IDToken",
                "kwargs": {
                    # The basic four items ride in the ID token itself.
                    "base_claims": {
                        "name": {"essential": True},
                        "birthdate": {"essential": True},
                        "gender": {"essential": True},
                        "address": {"essential": True},
                    }
                },
            },
        },
        "userinfo": {
            "class": "idpyoidc.server.user_info.UserInfo",
            "kwargs": {"db_file": users_file},
        },
    }


class Provider:
    def __init__(self, config_path):
        with open(config_path, encoding="utf-8") as f:
            self.config = json.load(f)
        self.home = os.path.dirname(os.path.abspath(config_path))
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.issuer = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        os.makedirs(os.path.join(self.home, "templates"), exist_ok=True)
        with open(os.path.join(self.home, "templates", "login.jinja2"), "w", encoding="utf-8") as f:
            f.write(LOGIN_PAGE)
        users_file = os.path.join(self.home, "users.json")
        passwords_file = os.path.join(self.home, "passwd.json")
        users = self.config["users"]
        with open(users_file, "w", encoding="utf-8") as f:
            json.dump({name: u["claims"] for name, u in users.items()}, f, ensure_ascii=False)
        with open(passwords_file, "w", encoding="utf-8") as f:
            json.dump({name: u["password"] for name, u in users.items()}, f)
        conf = configuration(self.issuer, self.home, users_file, passwords_file)
        self.server = Server(OPConfiguration(conf=conf, base_path=self.home), cwd=self.home)
        client = self.config
        self.server.context.cdb[client["client_id"]] = {
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "redirect_uris": [(client["redirect_uri"], {})],
            "response_types_supported": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "allowed_scopes": ["openid", "profile", "address"],
            "client_salt": "niji-test",
        }
        self.tamper = None
        self.lock = threading.Lock()

    def endpoint(self, name):
        return self.server.get_endpoint(name)


def tampered(provider, token, mode):
    """The ID token `token` as a misbehaving provider would send it."""
    header_b64, payload_b64, _ = token.split(".")
    payload = json.loads(_unb64(payload_b64))
    header = json.loads(_unb64(header_b64))
    keys = provider.server.keyjar.get_signing_key("RSA", issuer_id="")
    now = int(time.time())
    if mode == "alg-none":
        header = {"alg": "none", "typ": "JWT"}
        return "%s.%s." % (b64e(json.dumps(header).encode()).decode(), payload_b64)
    if mode == "expired":
        payload["iat"], payload["exp"] = now - 7200, now - 3600
    elif mode == "audience":
        payload["aud"] = ["someone-else"]
    elif mode == "nonce":
        payload["nonce"] = "a-nonce-of-another-request"
    elif mode == "issuer":
        payload["iss"] = "http://127.0.0.1:1"
    elif mode == "bare":
        # A provider that gives the basic items only at its userinfo
        # endpoint: a valid token without them.
        for claim in ("name", "birthdate", "gender", "address"):
            payload.pop(claim, None)
    elif mode == "other-key":
        stranger = new_rsa_key(key_size=2048)
        stranger.kid = header.get("kid", keys[0].kid)
        keys = [stranger]
    else:
        raise ValueError("unknown tamper mode")
    signer = JWS(json.dumps(payload), alg="RS256")
    return signer.sign_compact(keys, kid=keys[0].kid)


def _unb64(part):
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class Handler(http.server.BaseHTTPRequestHandler):
    provider = None

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json", headers=()):
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def http_info(self):
        return {
            "headers": {k.lower(): v for k, v in self.headers.items() if k.lower() != "cookie"},
            "method": self.command,
            "url": self.provider.issuer + self.path,
            "cookie": [],
        }

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode("utf-8") if length else ""

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        with self.provider.lock:
            if url.path == "/.well-known/openid-configuration":
                self.service("provider_config", query)
            elif url.path == "/jwks":
                self.reply(200, json.dumps(self.provider.server.keyjar.export_jwks()))
            elif url.path == "/authorization":
                self.service("authorization", query)
            elif url.path == "/userinfo":
                self.service("userinfo", query)
            else:
                self.reply(404, "{}")

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        body = self.body()
        with self.provider.lock:
            if url.path == "/verify/user":
                self.verify(dict(urllib.parse.parse_qsl(body)))
            elif url.path == "/token":
                self.service("token", body)
            elif url.path == "/userinfo":
                self.service("userinfo", body)
            elif url.path == "/test/tamper":
                self.provider.tamper = json.loads(body)["mode"]
                self.reply(204, b"")
            else:
                self.reply(404, "{}")

    def verify(self, form):
        authn = self.provider.server.context.authn_broker.get_method_by_id("user")
        try:
            username = authn.verify(**form)
        except FailedAuthentication:
            self.reply(403, "ログインできませんでした", "text/plain; charset=utf-8")
            return
        token = authn.unpack_token(form["token"])
        request = AuthorizationRequest().from_urlencoded(token["query"])
        endpoint = self.provider.endpoint("authorization")
        session = endpoint.create_session(
            request, username, token["authn_class_ref"], token["iat"], authn
        )
        args = endpoint.authz_part2(request=request, session_id=session)
        self.respond(endpoint, request, args)

    def service(self, name, request):
        endpoint = self.provider.endpoint(name)
        info = self.http_info()
        try:
            parsed = endpoint.parse_request(request, http_info=info)
        except Exception as err:  # the provider's own refusal
            self.reply(400, json.dumps({"error": "invalid_request", "error_description": str(err)}))
            return
        if "error" in parsed:
            self.reply(400, parsed.to_json())
            return
        if isinstance(endpoint, Token):
            parsed = AccessTokenRequest(**parsed)
        try:
            args = endpoint.process_request(parsed, http_info=info)
        except Exception as err:
            traceback.print_exc()
            self.reply(400, json.dumps({"error": "invalid_request", "error_description": str(err)}))
            return
        if "redirect_location" in args:
            self.redirect(args["redirect_location"])
            return
        if "http_response" in args:
            self.reply(200, args["http_response"], "text/html; charset=utf-8")
            return
        if name == "token" and self.provider.tamper and "response_args" in args:
            id_token = args["response_args"].get("id_token")
            if id_token:
                args["response_args"]["id_token"] = tampered(
                    self.provider, id_token, self.provider.tamper
                )
            self.provider.tamper = None
        self.respond(endpoint, parsed, args)

    def respond(self, endpoint, request, args):
        if "error" in args:
            self.reply(400, json.dumps({"error": args["error"]}))
            return
        info = endpoint.do_response(request=request, **args)
        placement = info.get("response_placement", endpoint.response_placement)
        if placement == "url":
            self.redirect(info["response"])
            return
        headers = [(k, v) for k, v in info.get("http_headers", []) if k.lower() != "content-length"]
        content_type = dict((k.lower(), v) for k, v in headers).get("content-type", "application/json")
        headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
        self.reply(info.get("response_code", 200), info["response"], content_type, headers)


def main():
    provider = Provider(sys.argv[1])
    Handler.provider = provider
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = provider.listener
    print("issuer", provider.issuer, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
