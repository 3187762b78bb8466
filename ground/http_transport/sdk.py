"""The guarded transport for the SDKs: a `requests` session (Mastodon.py, tweepy) and an
`httpx` transport (atproto) that obey ground.address_policy where it matters, at the connect.

Left alone, Mastodon.py, tweepy and atproto follow redirects (a 307 re-POSTs the body, an
app password included, to wherever the server points) and connect to whatever the name
resolves to when they connect. So the SDKs never get their own HTTP client:

- `requests_session(policy)` is requests-hardened's session (a pinned, well-kept library:
  it resolves the name once and connects to the address it checked, keeping the name for
  the Host header, SNI and the certificate check) with redirects off, its address filter
  widened to our policy (reserved and translation ranges too) and narrowed by the
  operator's allow-list. Connections stay pooled per session, keyed by the address.
- `httpx_transport(policy)` is an httpx transport over httpcore's connection pool whose
  network backend resolves once, checks every answer and connects to the checked address;
  TLS still verifies the name. An existing pooled connection is reused without a new
  look-up: its address was checked when it was opened.
- `httpx_options(policy)` is what atproto's `Request(**kwargs)` passes on to its
  `httpx.Client`: that transport, and no redirect (atproto always sets
  follow_redirects=True, so a response hook refuses any redirect before httpx follows it,
  and max_redirects=0 backs that up).

A refused address raises address_policy.BlockedDestination (Unresolvable when the name does not
resolve) before any connection; a refused redirect raises address_policy.RedirectRefused. Both
carry a message for the user.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import ssl
import typing
from collections.abc import Iterator

import certifi
import httpcore
import httpx
import requests
from requests.adapters import HTTPAdapter
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter

from ground.address_policy import (
    BlockedDestination,
    Policy,
    Unresolvable,
    is_forbidden_address,
    normalise_host,
    redirect_refused,
)

# --- requests: Mastodon.py, tweepy ----------------------------------------------------------


class GuardedConnectionError(requests.ConnectionError):
    """The policy refused the address (or the name did not resolve) before any connection.
    A requests error, as a failed connection is, so an SDK that wraps those (Mastodon.py) or
    a caller that catches them (ours of tweepy) handles it; `refusal` is the
    BlockedDestination (or Unresolvable) with the user's message. Not a ValueError: requests
    would turn that into InvalidURL."""

    def __init__(self, refusal: BlockedDestination):
        super().__init__(str(refusal))
        self.refusal = refusal


def refusal_of(exc: BaseException | None) -> BlockedDestination | None:
    """The guard's refusal (a forbidden address, a name that does not resolve, a redirect)
    behind `exc`, however an SDK wrapped it, or None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, GuardedConnectionError):
            return exc.refusal
        if isinstance(exc, BlockedDestination):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


class _GuardedAdapter(IPFilterAdapter):
    """requests-hardened's adapter with our policy: the operator's allow-list skips the
    filter, and the address it pinned must also pass address_policy's wider rule."""

    def __init__(self, policy: Policy, *, is_https: bool):
        super().__init__(is_https_proto=is_https, allow_loopback=False)
        self._policy = policy

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host = normalise_host(requests.utils.urlparse(request.url).hostname or "")
        if host and self._policy.allows(host):
            # An internal server the operator allowed: connect to the name as requests would.
            return HTTPAdapter.build_connection_pool_key_attributes(self, request, verify, cert)
        try:
            host_params, pool_kwargs = super().build_connection_pool_key_attributes(
                request, verify, cert
            )
        except InvalidIPAddress:
            raise GuardedConnectionError(self._policy.refusal(host)) from None
        except requests.ConnectionError:  # requests-hardened: the name did not resolve
            raise GuardedConnectionError(
                Unresolvable(f"The host name {host!r} does not resolve.")
            ) from None
        pinned = ipaddress.ip_address(host_params["host"].strip("[]"))
        if is_forbidden_address(pinned):
            raise GuardedConnectionError(self._policy.refusal(host))
        return host_params, pool_kwargs


def _refuse_redirect(response: requests.Response, *args, **kwargs) -> requests.Response:
    if response.is_redirect:
        location = response.headers.get("Location", "")
        response.close()
        raise redirect_refused(response.url, response.status_code, location)
    return response


def requests_session(
    policy: Policy, *, timeout: float, refuse_redirects: bool = False
) -> requests.Session:
    """A pooled session that connects only where `policy` allows, applies `timeout` to any
    request that names none, and follows no redirect: a 3xx is returned as it is, or, with
    `refuse_redirects` (for an SDK that would read a 3xx as success), raises RedirectRefused."""
    session = HTTPSession(
        Config(
            # Our adapters below replace requests-hardened's own filter (same pinning).
            ip_filter_enable=False,
            ip_filter_allow_loopback_ips=False,
            never_redirect=True,
            default_timeout=timeout,
        )
    )
    # Not from the environment: a proxy named there (HTTPS_PROXY) would make the connection
    # to the proxy rather than to the address checked above, and ~/.netrc would hand its
    # credentials to whichever host we call. requests reads both, scanning os.environ, on
    # every call (Session.trust_env, its documented switch; that scan was nearly half of what
    # requests cost the networks in a hot second). The CA bundle an operator names there is
    # still used, read once here.
    session.trust_env = False
    session.verify = (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    )
    session.mount("http://", _GuardedAdapter(policy, is_https=False))
    session.mount("https://", _GuardedAdapter(policy, is_https=True))
    if refuse_redirects:
        session.hooks["response"].append(_refuse_redirect)
    return session


# --- httpx: atproto ---------------------------------------------------------------------------


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync network backend, connecting only to an address the policy allows."""

    def __init__(self, policy: Policy):
        self._policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable | None = None,
    ) -> httpcore.NetworkStream:
        # Resolved here, once; the connection goes to a checked address, each in turn until
        # one answers (as socket.create_connection does with a name). httpcore keeps the
        # name for TLS (SNI and the certificate check).
        failure: Exception | None = None
        for address in self._policy.addresses(host, port):
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise BlockedDestination("Unix sockets are not an address Queue Loop calls.")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# httpcore's errors as httpx's (httpx maps them the same way in its own transport); the
# most specific class wins.
_HTTPX_ERRORS: dict[type[Exception], type[httpx.HTTPError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for cls in type(exc).__mro__:
            if cls in _HTTPX_ERRORS:
                raise _HTTPX_ERRORS[cls](str(exc)) from exc
        raise


class _Stream(httpx.SyncByteStream):
    def __init__(self, stream):
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        with _httpx_errors():
            self._stream.close()


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """certifi's CA bundle, loaded once per process: loading it cost ~19 ms of CPU, paid by
    every Bluesky call (a client each) in a worker's hot second. One SSLContext serves any
    number of connections and threads (Python's ssl documentation); nothing changes it
    after it is made."""
    return ssl.create_default_context(cafile=certifi.where())


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport over httpcore's connection pool with the guarded backend."""

    def __init__(self, policy: Policy):
        # httpx's own defaults (httpx.Limits(), certifi's CA bundle).
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(policy),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = self._pool.handle_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Stream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def _refuse_httpx_redirect(response: httpx.Response) -> None:
    if response.has_redirect_location:
        raise redirect_refused(
            str(response.request.url), response.status_code, response.headers["Location"]
        )


def httpx_options(policy: Policy) -> dict[str, typing.Any]:
    """httpx.Client arguments (documented ones) for a client that connects only where
    `policy` allows and follows no redirect."""
    return {
        "transport": GuardedTransport(policy),
        "event_hooks": {"response": [_refuse_httpx_redirect]},
        "max_redirects": 0,
    }


__all__ = [
    "GuardedConnectionError",
    "GuardedTransport",
    "httpx_options",
    "refusal_of",
    "requests_session",
]
