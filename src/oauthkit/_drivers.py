"""The transport port, and the two drivers that run every flow over it.

A flow is a generator that yields :class:`~oauthkit._models.Request` (or
:class:`~oauthkit._models.Sleep`) and receives :class:`~oauthkit._models.Response`; it
``return``\\ s its result. A :class:`Transport` sends one request; the sync driver
:func:`run` and the async driver :func:`run_async` connect the two. A transport failure is
thrown into the flow as :class:`~oauthkit._errors.TransportError`, so the flow decides
whether to retry.

Transports for concrete HTTP libraries live one layer up (``oauthkit.transport``). They
register themselves here, so this layer can accept "whatever HTTP client the caller holds"
(``credentials.refresh(httplib2.Http())``) without importing them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator

from oauthkit._clock import SYSTEM_CLOCK, Clock
from oauthkit._errors import ConfigurationError, TransportError

# `import oauthkit` stays fast: typing and _models (dataclasses) load only when needed.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol, TypeVar, runtime_checkable

    from oauthkit._models import Request, Response, Sleep

__all__ = [
    "AsyncTransport",
    "Flow",
    "Transport",
    "authorize",
    "register_adapter",
    "register_authorizer",
    "register_default",
    "run",
    "run_async",
    "to_async_transport",
    "to_transport",
]

if TYPE_CHECKING:
    T = TypeVar("T")

    Flow = Generator["Request | Sleep", "Response | None", T]

    @runtime_checkable
    class Transport(Protocol):
        """Sends one request and returns the response, raising :class:`TransportError` on
        any network failure. It never follows redirects when ``request.follow_redirects`` is
        false."""

        def send(self, request: Request) -> Response: ...

    @runtime_checkable
    class AsyncTransport(Protocol):
        """:class:`Transport` for asyncio: ``send`` is a coroutine."""

        async def send(self, request: Request) -> Response: ...

else:
    Flow = Generator  # subscripted only in annotations

    class _HasSend(type):
        """``isinstance(x, Transport)`` answers as a runtime-checkable Protocol does: ``x``
        has a callable ``send`` (without importing typing at run time)."""

        def __instancecheck__(cls, obj: object) -> bool:
            return callable(getattr(obj, "send", None)) or type.__instancecheck__(cls, obj)

    class Transport(metaclass=_HasSend):
        """Sends one request and returns the response, raising :class:`TransportError` on
        any network failure. It never follows redirects when ``request.follow_redirects`` is
        false."""

    class AsyncTransport(metaclass=_HasSend):
        """:class:`Transport` for asyncio: ``send`` is a coroutine."""


def run(flow: Flow[T], transport: Transport, clock: Clock = SYSTEM_CLOCK) -> T:
    """Drive ``flow`` to completion with blocking I/O; return its result."""
    from oauthkit._models import Sleep

    try:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                clock.sleep(step.seconds)
                step = flow.send(None)
                continue
            try:
                response = transport.send(step)
            except TransportError as exc:
                step = flow.throw(exc)
                continue
            step = flow.send(response)
    except StopIteration as stop:
        result: T = stop.value
        return result
    finally:
        flow.close()


async def run_async(
    flow: Flow[T],
    transport: AsyncTransport,
    sleep: Callable[[float], Awaitable[Any]] | None = None,
) -> T:
    """Drive ``flow`` to completion on an event loop; return its result. ``sleep``
    defaults to :func:`asyncio.sleep`."""
    if sleep is None:
        import asyncio  # lazily: `import oauthkit` must stay fast (no event loop machinery)

        sleep = asyncio.sleep
    from oauthkit._models import Sleep

    try:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                await sleep(step.seconds)
                step = flow.send(None)
                continue
            try:
                response = await transport.send(step)
            except TransportError as exc:
                step = flow.throw(exc)
                continue
            step = flow.send(response)
    except StopIteration as stop:
        result: T = stop.value
        return result
    finally:
        flow.close()


# --- adapters registered by oauthkit.transport --------------------------------------------

_SYNC: list[tuple[str, Callable[[Any], Transport]]] = []
_ASYNC: list[tuple[str, Callable[[Any], AsyncTransport]]] = []
_AUTHORIZERS: list[tuple[str, Callable[[Any, Any], Any]]] = []
_DEFAULT: list[Callable[[], Transport]] = []
_DEFAULT_ASYNC: list[Callable[[], AsyncTransport]] = []


def register_adapter(
    type_name: str,
    sync: Callable[[Any], Transport] | None = None,
    asynchronous: Callable[[Any], AsyncTransport] | None = None,
) -> None:
    """Teach :func:`to_transport` to wrap objects whose class (or a base class) is
    ``type_name`` (``"module.QualName"``). Called by ``oauthkit.transport``."""
    if sync is not None:
        _SYNC.append((type_name, sync))
    if asynchronous is not None:
        _ASYNC.append((type_name, asynchronous))


def register_authorizer(type_name: str, authorize: Callable[[Any, Any], Any]) -> None:
    """Teach :func:`authorize` how to attach credentials to a client of ``type_name``."""
    _AUTHORIZERS.append((type_name, authorize))


def authorize(credentials: Any, http: Any) -> Any:
    """Attach ``credentials`` to the HTTP client ``http`` and return it."""
    names = _type_names(http)
    for type_name, attach in _AUTHORIZERS:
        if type_name in names:
            return attach(credentials, http)
    raise ConfigurationError(
        f"cannot authorize a {type(http).__name__}; pass an httplib2.Http, requests.Session, "
        "httpx.Client or httpx.AsyncClient"
    )


def register_default(
    sync: Callable[[], Transport], asynchronous: Callable[[], AsyncTransport]
) -> None:
    """Set the transports used when the caller passes no HTTP client."""
    _DEFAULT[:] = [sync]
    _DEFAULT_ASYNC[:] = [asynchronous]


def _type_names(obj: Any) -> list[str]:
    return [f"{cls.__module__}.{cls.__qualname__}" for cls in type(obj).__mro__]


def to_transport(http: Any = None) -> Transport:
    """A :class:`Transport` for ``http``: ``None`` (the default transport), a Transport, or
    an HTTP client object of a registered library (httplib2.Http, requests.Session,
    httpx.Client)."""
    if http is None:
        if not _DEFAULT:
            raise ConfigurationError("no default HTTP transport is registered")
        return _DEFAULT[0]()
    names = _type_names(http)
    for type_name, factory in _SYNC:
        if type_name in names:
            return factory(http)
    if isinstance(http, Transport):
        return http
    raise ConfigurationError(
        f"cannot send requests with a {type(http).__name__}; pass an httplib2.Http, "
        "requests.Session, httpx.Client or an oauthkit Transport"
    )


def to_async_transport(http: Any = None) -> AsyncTransport:
    """An :class:`AsyncTransport` for ``http`` (``None``, an httpx.AsyncClient, or one)."""
    if http is None:
        if not _DEFAULT_ASYNC:
            raise ConfigurationError("no default async HTTP transport is registered")
        return _DEFAULT_ASYNC[0]()
    names = _type_names(http)
    for type_name, factory in _ASYNC:
        if type_name in names:
            return factory(http)
    if isinstance(http, AsyncTransport):
        return http
    raise ConfigurationError(
        f"cannot send async requests with a {type(http).__name__}; pass an httpx.AsyncClient"
    )
