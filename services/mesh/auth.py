"""Who is calling: bearer tokens (JWTs) on every public gRPC call, verified against the issuer's
public keys (a JWKS file), and the caller they name.

A token's claims: `sub` (the teacher, or the service), `tenant` (the school), `role` (`teacher`,
`admin` or `service`), `aud` (AUTH_AUDIENCE), `exp`, and `iss` when AUTH_ISSUER is set. EdDSA and
ES256 only. A service calls another with a short-lived token it signs itself with the services'
key (AUTH_SERVICE_KEY); the role `service` is only taken from a token signed by a key whose id is
in AUTH_SERVICE_KEY_IDS, so the teachers' issuer cannot mint one. A service acts for the tenant it
names in the `x-huleedu-tenant` header.

Without AUTH_JWKS_FILE nothing is verified and every call is the local caller: one tenant (""),
the role admin; the server logs so at start, as it logs plain-text transport.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from services.mesh.settings import SettingsError, env_file, env_float, env_str

ALGORITHMS = ("EdDSA", "ES256")
ROLES = ("teacher", "admin", "service")
TENANT_HEADER = "x-huleedu-tenant"
DEFAULT_AUDIENCE = "huleedu"
DEFAULT_SERVICE_KEY_ID = "huleedu-services"
# Calls anyone may make: health checks and reflection carry no essay data.
_OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
_MAX_TENANT_LENGTH = 128


class AuthError(Exception):
    """A token that is missing, malformed, expired or not ours; the message says which."""


@dataclass(frozen=True)
class Caller:
    """Who makes a call: a teacher or admin of a tenant, or a service acting for one."""

    tenant: str
    subject: str
    role: str

    @property
    def is_admin(self) -> bool:
        """True for an admin of the tenant (and the local caller)."""
        return self.role == "admin"

    @property
    def is_service(self) -> bool:
        """True for another service of the mesh."""
        return self.role == "service"

    def owns(self, tenant: str, creator: str) -> bool:
        """True when this caller may change or delete something `creator` made in `tenant`: its
        creator, an admin of the tenant, or a service."""
        if tenant != self.tenant:
            return False
        return self.is_admin or self.is_service or creator == self.subject


# Every call when authentication is off: one tenant, full rights.
LOCAL_CALLER = Caller(tenant="", subject="local", role="admin")
_CALLER: contextvars.ContextVar[Caller] = contextvars.ContextVar("huleedu_caller")


@contextlib.contextmanager
def acting_as(caller: Caller) -> Iterator[None]:
    """Make `caller` current within the block: for a servicer method called in-process, without
    the gRPC server's interceptor."""
    token = _CALLER.set(caller)
    try:
        yield
    finally:
        _CALLER.reset(token)


def current_caller() -> Caller:
    """The caller of the gRPC call being handled (set by the server's auth interceptor)."""
    try:
        return _CALLER.get()
    except LookupError:
        raise RuntimeError("no caller: the call did not pass the auth interceptor") from None


@dataclass(frozen=True)
class AuthSettings:
    """AUTH_*: where the issuer's public keys are, what a token must say, the services' key."""

    jwks_file: Path | None = None
    audience: str = DEFAULT_AUDIENCE
    issuer: str = ""
    service_key_file: Path | None = None
    service_key_id: str = DEFAULT_SERVICE_KEY_ID
    service_key_ids: tuple[str, ...] = (DEFAULT_SERVICE_KEY_ID,)
    leeway_s: float = 30.0

    @classmethod
    def from_env(cls) -> AuthSettings:
        """AUTH_JWKS_FILE, AUTH_AUDIENCE, AUTH_ISSUER, AUTH_SERVICE_KEY, AUTH_SERVICE_KEY_ID,
        AUTH_SERVICE_KEY_IDS, AUTH_LEEWAY_S."""
        key_id = env_str("AUTH_SERVICE_KEY_ID", DEFAULT_SERVICE_KEY_ID)
        ids = env_str("AUTH_SERVICE_KEY_IDS", key_id)
        return cls(
            jwks_file=env_file("AUTH_JWKS_FILE"),
            audience=env_str("AUTH_AUDIENCE", DEFAULT_AUDIENCE),
            issuer=env_str("AUTH_ISSUER", ""),
            service_key_file=env_file("AUTH_SERVICE_KEY"),
            service_key_id=key_id,
            service_key_ids=tuple(i.strip() for i in ids.split(",") if i.strip()),
            leeway_s=env_float("AUTH_LEEWAY_S", 30.0, minimum=0.0, maximum=600.0),
        )

    @property
    def enabled(self) -> bool:
        """True when calls must carry a verified token."""
        return self.jwks_file is not None


class TokenVerifier:
    """Verifies bearer tokens against a JWKS and reads the caller from their claims."""

    def __init__(self, settings: AuthSettings) -> None:
        if settings.jwks_file is None:
            raise ValueError("a TokenVerifier needs AUTH_JWKS_FILE")
        self._settings = settings
        try:
            keys = jwt.PyJWKSet.from_json(settings.jwks_file.read_text(encoding="utf-8"))
        except (jwt.PyJWKSetError, jwt.InvalidKeyError, ValueError) as exc:
            raise SettingsError(f"AUTH_JWKS_FILE={settings.jwks_file}: {exc}") from None
        self._keys = {key.key_id: key for key in keys.keys if key.key_id}
        if not self._keys:
            raise SettingsError(f"AUTH_JWKS_FILE={settings.jwks_file}: no key has a 'kid'")

    def verify(self, token: str) -> Caller:
        """The caller a token names; AuthError says what is wrong with it."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise AuthError("the bearer token is not a JWT") from None
        key_id = header.get("kid")
        key = self._keys.get(key_id) if isinstance(key_id, str) else None
        if key is None or not isinstance(key_id, str):
            raise AuthError("the bearer token is signed by a key the issuer does not publish")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(ALGORITHMS),
                audience=self._settings.audience,
                issuer=self._settings.issuer or None,
                leeway=self._settings.leeway_s,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the bearer token has expired: get a new one") from None
        except jwt.InvalidAudienceError:
            raise AuthError(
                f"the bearer token is not for this service (audience must be "
                f"{self._settings.audience!r})"
            ) from None
        except jwt.InvalidSignatureError:
            raise AuthError("the bearer token's signature does not verify") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"the bearer token is not valid: {exc}") from None
        return self._caller(claims, key_id)

    def _caller(self, claims: dict[str, Any], key_id: str) -> Caller:
        role = claims.get("role")
        if role not in ROLES:
            raise AuthError(f"the bearer token's role must be one of {', '.join(ROLES)}")
        if role == "service":
            if key_id not in self._settings.service_key_ids:
                raise AuthError("only the services' key signs tokens with the role service")
            return Caller(tenant="", subject=str(claims["sub"]), role=role)
        tenant = claims.get("tenant")
        if not isinstance(tenant, str) or not valid_tenant(tenant):
            raise AuthError("the bearer token names no valid tenant")
        return Caller(tenant=tenant, subject=str(claims["sub"]), role=role)


def valid_tenant(tenant: str) -> bool:
    """A tenant id: 1-128 characters of letters, digits, `-` and `_` (it names storage keys)."""
    return (
        0 < len(tenant) <= _MAX_TENANT_LENGTH
        and tenant.isascii()
        and all(c.isalnum() or c in "-_" for c in tenant)
    )


def _bearer(metadata: tuple[tuple[str, str | bytes], ...] | None) -> tuple[str | None, str]:
    token: str | None = None
    tenant = ""
    for key, value in metadata or ():
        text = value.decode() if isinstance(value, bytes) else value
        if key == "authorization":
            scheme, _, rest = text.partition(" ")
            token = rest.strip() if scheme.lower() == "bearer" else ""
        elif key == TENANT_HEADER:
            tenant = text
    return token, tenant


def caller_of(
    verifier: TokenVerifier, metadata: tuple[tuple[str, str | bytes], ...] | None
) -> Caller:
    """The caller of a call with `metadata`, verified; AuthError when it cannot be."""
    token, tenant = _bearer(metadata)
    if token is None:
        raise AuthError(
            "this call needs a bearer token: send the header 'authorization: Bearer <JWT>'"
        )
    if not token:
        raise AuthError("the authorization header must read 'Bearer <JWT>'")
    caller = verifier.verify(token)
    if caller.is_service:
        if tenant and not valid_tenant(tenant):
            raise AuthError(f"the {TENANT_HEADER} header names no valid tenant")
        return Caller(tenant=tenant, subject=caller.subject, role=caller.role)
    return caller


Context = grpc.aio.ServicerContext[Any, Any]


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Verifies the bearer token of every call but health and reflection, and makes its caller
    the `current_caller()` of the handler; a call without a valid token ends UNAUTHENTICATED.
    With no verifier (authentication off) every call is LOCAL_CALLER."""

    def __init__(self, verifier: TokenVerifier | None) -> None:
        self._verifier = verifier

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(_OPEN_PREFIXES):
            return handler
        return _wrapped(handler, self._enter)

    async def _enter(self, context: Context) -> None:
        """Make the call's caller current, or end the call UNAUTHENTICATED."""
        if self._verifier is None:
            _CALLER.set(LOCAL_CALLER)
            return
        metadata = tuple((key, value) for key, value in context.invocation_metadata() or ())
        try:
            _CALLER.set(caller_of(self._verifier, metadata))
        except AuthError as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))


def _wrapped(
    handler: grpc.RpcMethodHandler[Any, Any], enter: Callable[[Context], Awaitable[None]]
) -> grpc.RpcMethodHandler[Any, Any]:
    """`handler` with `enter` run before its behaviour, in the call's own context."""
    request_deserializer = handler.request_deserializer
    response_serializer = handler.response_serializer
    if handler.unary_unary is not None or handler.stream_unary is not None:
        single: Any = handler.unary_unary or handler.stream_unary

        async def answered(request: Any, context: Context) -> Any:
            await enter(context)
            return await single(request, context)

        make = (
            grpc.unary_unary_rpc_method_handler
            if handler.unary_unary is not None
            else grpc.stream_unary_rpc_method_handler
        )
        return make(answered, request_deserializer, response_serializer)
    streaming: Any = handler.unary_stream or handler.stream_stream

    async def streamed(request: Any, context: Context) -> AsyncIterator[Any]:
        await enter(context)
        async for response in streaming(request, context):
            yield response

    make_stream = (
        grpc.unary_stream_rpc_method_handler
        if handler.unary_stream is not None
        else grpc.stream_stream_rpc_method_handler
    )
    return make_stream(streamed, request_deserializer, response_serializer)


def server_interceptor(settings: AuthSettings) -> AuthInterceptor:
    """The interceptor for `settings`: verifying when AUTH_JWKS_FILE is set."""
    return AuthInterceptor(TokenVerifier(settings) if settings.enabled else None)


def load_signing_key(path: Path) -> ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey:
    """An Ed25519 or P-256 private key from a PEM file."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise SettingsError(f"{path}: the key must be Ed25519 or P-256 (EdDSA or ES256)")
    return key


def sign_token(
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
    key_id: str,
    claims: dict[str, Any],
) -> str:
    """A JWT of `claims` signed with `key` (EdDSA for Ed25519, ES256 for P-256)."""
    algorithm = "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": key_id})


class ServiceTokens:
    """Tokens with the role `service` this process signs for its calls to other services,
    renewed when half their life is gone."""

    TTL_S = 300.0

    def __init__(self, settings: AuthSettings, service: str) -> None:
        if settings.service_key_file is None:
            raise ValueError("ServiceTokens need AUTH_SERVICE_KEY")
        self._key = load_signing_key(settings.service_key_file)
        self._settings = settings
        self._service = service
        self._token = ""
        self._renew_at = 0.0

    def token(self) -> str:
        """A valid token for the next call."""
        now = time.time()
        if now >= self._renew_at:
            claims = {
                "sub": self._service,
                "role": "service",
                "aud": self._settings.audience,
                "iat": int(now),
                "exp": int(now + self.TTL_S),
            }
            if self._settings.issuer:
                claims["iss"] = self._settings.issuer
            self._token = sign_token(self._key, self._settings.service_key_id, claims)
            self._renew_at = now + self.TTL_S / 2
        return self._token


def public_jwk(
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey, key_id: str
) -> dict[str, Any]:
    """The public half of `key` as a JWK with its `kid` (for a JWKS file)."""
    algorithm = "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"
    raw: dict[str, Any] = json.loads(
        jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(key.public_key())
    )
    return {**raw, "kid": key_id, "alg": algorithm, "use": "sig"}


DEV_ISSUER_KEY_ID = "huleedu-dev"


def create_dev_keys(directory: Path) -> dict[str, str]:
    """A development issuer and services key pair in `directory` (kept when there already):
    `issuer.pem` signs teachers' tokens (`huleedu login`), `services.pem` the services' own,
    `jwks.json` publishes both. Returns the AUTH_* variables a service needs for them."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = {}
    for name, key_id in (("issuer", DEV_ISSUER_KEY_ID), ("services", DEFAULT_SERVICE_KEY_ID)):
        path = directory / f"{name}.pem"
        if not path.exists():
            generated = ed25519.Ed25519PrivateKey.generate()
            pem = generated.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            path.touch(mode=0o600)
            path.write_bytes(pem)
        keys[key_id] = load_signing_key(path)
    jwks = {"keys": [public_jwk(key, key_id) for key_id, key in keys.items()]}
    (directory / "jwks.json").write_text(json.dumps(jwks, indent=2) + "\n", encoding="utf-8")
    return {
        "AUTH_JWKS_FILE": str(directory / "jwks.json"),
        "AUTH_SERVICE_KEY": str(directory / "services.pem"),
    }


def mint_token(
    key_file: Path,
    *,
    tenant: str,
    subject: str,
    role: str = "teacher",
    ttl_s: float = 12 * 3600.0,
    audience: str = DEFAULT_AUDIENCE,
    key_id: str = DEV_ISSUER_KEY_ID,
    issuer: str = "",
) -> str:
    """A token for a teacher or admin of `tenant`, signed with the key in `key_file` (what an
    identity provider issues; `huleedu login` does this with the development issuer key)."""
    if role not in ("teacher", "admin"):
        raise ValueError(f"role must be teacher or admin, not {role!r}")
    if not valid_tenant(tenant):
        raise ValueError(f"{tenant!r} is not a tenant id: 1-128 letters, digits, '-' or '_'")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "tenant": tenant,
        "role": role,
        "aud": audience,
        "iat": now,
        "exp": now + int(ttl_s),
    }
    if issuer:
        claims["iss"] = issuer
    return sign_token(load_signing_key(key_file), key_id, claims)


def _with_bearer(details: grpc.aio.ClientCallDetails, token: str) -> grpc.aio.ClientCallDetails:
    metadata = list(details.metadata or ())
    metadata.append(("authorization", f"Bearer {token}"))
    return grpc.aio.ClientCallDetails(
        details.method,
        details.timeout,
        grpc.aio.Metadata(*metadata),
        details.credentials,
        details.wait_for_ready,
    )


class _BearerUnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_bearer(details, self._token), request)


class _BearerUnaryStream(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[type-arg]
    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_bearer(details, self._token), request)


class _BearerStreamUnary(grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[type-arg]
    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_stream_unary(
        self, continuation: Any, details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(_with_bearer(details, self._token), request_iterator)


def bearer_interceptors(token: str) -> list[grpc.aio.ClientInterceptor]:
    """Client interceptors that send `token` with every call of a channel."""
    interceptors = [_BearerUnaryUnary(token), _BearerUnaryStream(token), _BearerStreamUnary(token)]
    return interceptors  # type: ignore[return-value]
