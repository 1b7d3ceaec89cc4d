"""boto3 sessions and clients for the live auditor.

- credentials the boto3 way (profile, environment, instance role), optionally a role to assume
  (with an external id); assumed-role credentials refresh themselves on long scans;
- every client gets the endpoint URL (AWS-compatible endpoints, the moto server), bounded
  retries (botocore `standard` or `adaptive` mode) and connect/read timeouts;
- a read-only guard: any operation that is not Describe*/Get*/List*/Head* (or AssumeRole)
  raises before it is sent, so a bug can never change an audited account;
- observers see every API call and every HTTP attempt (the benchmark counts calls with them,
  the tests record operation names);
- an Organization costs little more than one account: every session shares one data loader,
  and the clients of those sessions share one parsed service model and one client class per
  service (`share_models`); an account's clients are dropped when it has not been used for a
  while (`ClientPool`), and made again if it is, so live clients are bounded by the workers,
  not by the accounts.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import field
from typing import Any, Protocol

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from drguard.errors import ConfigError
from drguard.records import record

log = logging.getLogger(__name__)

READ_ONLY_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup")
# AssumeRole opens a session; Athena's StartQueryExecution runs a SELECT (`logs --athena`),
# whose only write is the result file in the workgroup's output location.
ALLOWED_OPERATIONS = frozenset({"AssumeRole", "StartQueryExecution"})
DEFAULT_REGION = "us-east-1"
# What opening a session sends (the account id), and what --role-arn and --org assume; as
# botocore names them (auditor.iam_policy turns them into IAM actions).
CALLS = ("sts:GetCallerIdentity",)
ASSUME_ROLE = "sts:AssumeRole"


class MutatingCallError(RuntimeError):
    """The auditor tried to send an operation that could change the account."""


def is_read_only(operation: str) -> bool:
    return operation.startswith(READ_ONLY_PREFIXES) or operation in ALLOWED_OPERATIONS


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer") from None


@record(frozen=True)
class AwsOptions:
    """How to reach AWS. Retry mode and attempts honour AWS_RETRY_MODE / AWS_MAX_ATTEMPTS."""

    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    endpoint_url: str | None = None
    region: str | None = None  # region of global clients (IAM, S3 listing, STS, Organizations)
    # adaptive: standard retries plus client-side rate limiting once AWS throttles; clients
    # are per account x region x service, so one throttled account slows only itself
    retry_mode: str = field(default_factory=lambda: os.environ.get("AWS_RETRY_MODE", "adaptive"))
    max_attempts: int = field(default_factory=lambda: _env_int("AWS_MAX_ATTEMPTS", 6))
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_pool_connections: int = 20
    session_name: str = "dr-audit"

    def __post_init__(self) -> None:
        if self.retry_mode not in ("standard", "adaptive", "legacy"):
            raise ConfigError(f"retry mode {self.retry_mode!r} is not standard or adaptive")

    def config(self) -> Config:
        # total_max_attempts counts the first try, like AWS_MAX_ATTEMPTS (Config's
        # `max_attempts` would count retries only).
        return Config(retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
                      connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
                      max_pool_connections=self.max_pool_connections,
                      user_agent_extra="dr-audit")


# ---- observers ---------------------------------------------------------------------------

class Observer(Protocol):
    def on_call(self, service: str, operation: str, params: dict[str, Any]) -> None: ...

    def on_attempt(self, service: str, operation: str) -> None: ...


_observers: list[Observer] = []
_observers_lock = threading.Lock()


@contextmanager
def observe(observer: Observer) -> Iterator[Observer]:
    """Show every API call made by sessions created inside the block to `observer`."""
    with _observers_lock:
        _observers.append(observer)
    try:
        yield observer
    finally:
        with _observers_lock:
            _observers.remove(observer)


class CallCounter:
    """Counts API calls per (service, operation) and HTTP attempts (retries included)."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.attempts = 0
        self._lock = threading.Lock()

    def on_call(self, service: str, operation: str, params: dict[str, Any]) -> None:
        with self._lock:
            self.calls[(service, operation)] += 1

    def on_attempt(self, service: str, operation: str) -> None:
        with self._lock:
            self.attempts += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def by_operation(self) -> dict[str, int]:
        return {f"{s}:{o}": n for (s, o), n in self.calls.most_common()}


def _api_params(params: dict[str, Any], context: dict[str, Any] | None = None,
                **_: Any) -> None:
    """Keep the call's parameters as the caller gave them (before-call sees the serialized
    request): observers are shown these."""
    if context is not None:
        context["dr_audit_params"] = dict(params)


def _notify_call(model: Any, params: dict[str, Any], context: dict[str, Any] | None = None,
                 **_: Any) -> None:
    service, operation = model.service_model.service_name, model.name
    given = (context or {}).get("dr_audit_params", params)
    for o in list(_observers):
        o.on_call(service, operation, given)


def _before_call(model: Any, params: dict[str, Any], context: dict[str, Any] | None = None,
                 **_: Any) -> None:
    _notify_call(model, params, context)
    service, operation = model.service_model.service_name, model.name
    if not is_read_only(operation):
        raise MutatingCallError(f"refusing to call {service}:{operation}: the auditor only "
                                "reads")


def _request_created(request: Any, operation_name: str, event_name: str = "", **_: Any) -> None:
    service = event_name.split(".")[1] if event_name.count(".") >= 2 else ""
    for o in list(_observers):
        o.on_attempt(service, operation_name)


def _instrument(session: botocore.session.Session) -> None:
    session.register("before-parameter-build", _api_params, unique_id="dr-audit-params")
    session.register("before-call", _before_call, unique_id="dr-audit-guard")
    session.register("request-created", _request_created, unique_id="dr-audit-attempts")


def _hook(client: Any, before_call: Any, unique_id: str) -> Any:
    client.meta.events.register("before-parameter-build", _api_params,
                                unique_id="dr-audit-params")
    client.meta.events.register("before-call", before_call, unique_id=unique_id)
    client.meta.events.register("request-created", _request_created,
                                unique_id="dr-audit-attempts")
    return client


def observed_client(client: Any) -> Any:
    """Show one client's calls to the observers, without the read-only guard: for a writer
    guarded by its own rules (the --history store), whose calls a run's permissions need."""
    return _hook(client, _notify_call, "dr-audit-observe")


def guard_client(client: Any) -> Any:
    """Put the read-only guard (and the observers) on one client, whatever session made it
    (a caller's own boto3 session included); idempotent."""
    return _hook(client, _before_call, "dr-audit-guard")


# ---- shared service models and client classes ------------------------------------------------

class _Shared:
    """What every client made through one data loader may share: the parsed service model
    (read-only once built; its operation models and shapes are built lazily, once) and the
    client class generated from it (methods only: no state)."""

    def __init__(self) -> None:
        self.models: dict[tuple[str, str | None], Any] = {}
        self.classes: dict[int, tuple[Any, type]] = {}  # id(model) -> (model, class)
        self.lock = threading.RLock()


_SHARED: weakref.WeakKeyDictionary[Any, _Shared] = weakref.WeakKeyDictionary()
_LOADER: Any = None  # the process's data loader, shared by every session made here
_share_lock = threading.Lock()


def _cached_model(self: Any, service_name: str, api_version: str | None = None) -> Any:
    shared = _SHARED.get(self._loader)
    if shared is None:  # a session this module did not make: botocore's own behaviour
        return _ORIGINAL[0](self, service_name, api_version)
    key = (service_name, api_version)
    model = shared.models.get(key)
    if model is None:
        # built under the lock: the loader's own cache is not thread-safe, and workers
        # asking at once would each read and parse the same JSON
        with shared.lock:
            model = shared.models.get(key)
            if model is None:
                model = _ORIGINAL[0](self, service_name, api_version)
                _warm_loader(self, service_name, api_version)
                shared.models[key] = model
    return model


def _warm_loader(creator: Any, service_name: str, api_version: str | None) -> None:
    """Read the service's endpoint rules and the partitions once, under the lock (client
    creation reads them next, from the loader's cache)."""
    from botocore.exceptions import UnknownServiceError

    try:
        creator._load_service_endpoints_ruleset(service_name, api_version)
        creator._loader.load_data("partitions")
    except UnknownServiceError:
        pass


def _cached_class(self: Any, service_name: str, service_model: Any) -> Any:
    shared = _SHARED.get(self._loader)
    if shared is None:
        return _ORIGINAL[1](self, service_name, service_model)
    got = shared.classes.get(id(service_model))
    if got is None or got[0] is not service_model:
        with shared.lock:
            got = shared.classes.get(id(service_model))
            if got is None or got[0] is not service_model:
                got = (service_model, _ORIGINAL[1](self, service_name, service_model))
                shared.classes[id(service_model)] = got
    return got[1]


_ORIGINAL: list[Any] = []


def _fast_file_loader() -> Any:
    """botocore's JSON file loader, decoding with msgspec: botocore asks json for an
    OrderedDict per object (a Python call for each), which made parsing the service models,
    endpoint rules, partitions and paginators a scan reads ~0.12 CPU-s, a quarter of a
    one-account scan's CPU after its imports. Plain dicts keep the same order, and botocore
    uses nothing else of OrderedDict there. What msgspec refuses goes to botocore's reader."""
    import botocore.loaders
    import msgspec

    class FastJSONFileLoader(botocore.loaders.JSONFileLoader):
        def _load_file(self, full_path: str, open_method: Any) -> Any:
            if not os.path.isfile(full_path):
                return None
            with open_method(full_path, "rb") as fp:
                payload = fp.read()
            try:
                return msgspec.json.decode(payload)
            except msgspec.DecodeError:
                return super()._load_file(full_path, open_method)

    return FastJSONFileLoader()


def share_models(core: botocore.session.Session) -> None:
    """Give `core` the process's data loader (each JSON model read and parsed once per
    process) and make its clients share one service model and one client class per service.

    Without this every client builds its own model objects and its own class with a method
    per operation (~390 KB and ~7 ms of CPU a client here, ~126 KB and ~3.5 ms with it),
    and an Organization scan makes ~20 clients per account."""
    global _LOADER
    import botocore.client

    with _share_lock:
        if not _ORIGINAL:
            creator = botocore.client.ClientCreator
            _ORIGINAL[:] = [creator._load_service_model, creator._create_client_class]
            creator._load_service_model = _cached_model
            creator._create_client_class = _cached_class
        if _LOADER is None:
            _LOADER = core.get_component("data_loader")
            _LOADER.file_loader = _fast_file_loader()
        core.register_component("data_loader", _LOADER)
        if _LOADER not in _SHARED:
            _SHARED[_LOADER] = _Shared()


class ClientPool:
    """Which accounts hold clients, most recently used last. Past `capacity` accounts, the
    least recently used one drops its clients (a later `client()` makes them again), so the
    clients alive are bounded by the scan's workers, not by the Organization's size."""

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self._order: OrderedDict[int, weakref.ref[Account]] = OrderedDict()
        self._lock = threading.Lock()

    def touch(self, account: Account) -> None:
        key = id(account)
        evicted: list[Account] = []
        with self._lock:
            if key in self._order:
                self._order.move_to_end(key)
            else:
                self._order[key] = weakref.ref(account)
            while len(self._order) > max(1, self.capacity):
                _, ref = self._order.popitem(last=False)
                old = ref()
                if old is not None and old is not account:
                    evicted.append(old)
        for old in evicted:  # outside the pool's lock: the account takes its own
            old.drop_clients()

    def forget(self, account: Account) -> None:
        with self._lock:
            self._order.pop(id(account), None)


# ---- sessions ----------------------------------------------------------------------------

class AccountTimeout(BotoCoreError):
    fmt = "{message}"


class AccountClock:
    """Busy time of one account's scan, and its share of the workers.

    Busy time is the union of the intervals in which at least one unit of the account runs,
    so waiting in the queue behind other accounts does not count. Past `budget` seconds every
    further API call of the account raises `AccountTimeout` (a BotoCoreError: the unit records
    it as a read error and the dependent checks become `error`), so a slow or throttled account
    cannot hold the others up for longer than its budget. `unit()` also admits at most
    `concurrency` units of the account at once.
    """

    def __init__(self, budget: float | None = None, concurrency: int = 0,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self.now = now
        self._lock = threading.Lock()
        self._active = 0
        self._since = 0.0
        self._spent = 0.0
        self.expired = False
        self._slots = threading.BoundedSemaphore(concurrency) if concurrency > 0 else None

    def busy(self) -> float:
        with self._lock:
            return self._spent + (self.now() - self._since if self._active else 0.0)

    @contextmanager
    def unit(self) -> Iterator[None]:
        if self._slots is not None:
            self._slots.acquire()
        with self._lock:
            if self._active == 0:
                self._since = self.now()
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    self._spent += self.now() - self._since
            if self._slots is not None:
                self._slots.release()

    def check(self, **_: Any) -> None:
        """before-call hook of the account's clients."""
        if self.budget is not None and self.busy() > self.budget:
            self.expired = True
            raise AccountTimeout(message=f"account scan stopped after {self.budget:g} s "
                                         "(--account-timeout)")


# Error codes that answer "there is none" (no tag set, no lock, no policy...): a reply, not
# a failed read.
_ABSENT_MARKS = ("NotFound", "NoSuch", "NotInUse")


class FailedReads:
    """Every call of one account's clients that failed past its retries (an AWS error other
    than "there is none", a 5xx, a dropped connection), by operation and region: what the
    scan could not read, whatever the collector did with it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (service:Operation, region) -> (calls failed, the first error: code, message)
        self.by_read: dict[tuple[str, str], tuple[int, str, str]] = {}

    def _add(self, service: str, event_name: str, context: Any, code: str,
             message: str) -> None:
        key = (f"{service}:{event_name.rsplit('.', 1)[-1]}",
               str((context or {}).get("client_region") or ""))
        with self._lock:
            n, c, m = self.by_read.get(key, (0, code, message))
            self.by_read[key] = (n + 1, c, m)

    def watch(self, client: Any) -> None:
        """Record the failed calls of `client` (first among the after-call handlers, so that
        botocore's own, which may raise on a bad body, cannot hide one)."""
        service = client.meta.service_model.service_name

        def after_call(http_response: Any = None, parsed: Any = None, event_name: str = "",
                       context: Any = None, **_: Any) -> None:
            status = getattr(http_response, "status_code", 200)
            if status < 300:
                return
            err = (parsed or {}).get("Error") or {}
            code = str(err.get("Code") or status)
            if status == 404 or any(mark in code for mark in _ABSENT_MARKS):
                return
            self._add(service, event_name, context, code, str(err.get("Message") or "")[:300])

        def after_call_error(exception: BaseException | None = None, event_name: str = "",
                             context: Any = None, **_: Any) -> None:
            if exception is not None:
                self._add(service, event_name, context, type(exception).__name__,
                          str(exception)[:300])

        client.meta.events.register_first("after-call", after_call)
        client.meta.events.register_first("after-call-error", after_call_error)

    def operations(self) -> dict[str, int]:
        """Calls failed, by service:Operation."""
        out: dict[str, int] = {}
        with self._lock:
            for (op, _), (n, _, _) in self.by_read.items():
                out[op] = out.get(op, 0) + n
        return out


class Account:
    """Clients for one account; safe to share between worker threads."""

    def __init__(self, session: boto3.Session, account_id: str, options: AwsOptions,
                 pool: ClientPool | None = None) -> None:
        self.session = session
        self.id = account_id
        self.options = options
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.clock = AccountClock()
        self.failed = FailedReads()
        # shared by the accounts of one scan (org mode passes the base account's pool)
        self.pool = pool or ClientPool()

    @property
    def region(self) -> str:
        """The region the account's clients default to (its partition's)."""
        return self.options.region or self.session.region_name or DEFAULT_REGION

    def client(self, service: str, region: str | None = None) -> Any:
        region = region or self.options.region or self.session.region_name or DEFAULT_REGION
        key = (service, region)
        with self._lock:  # boto3 sessions are not thread-safe; clients are
            client = self._clients.get(key)
            if client is None:
                client = self.session.client(
                    service, region_name=region, endpoint_url=self.options.endpoint_url,
                    config=self.options.config())
                # looked up at call time: the scan gives the account its clock after opening;
                # weakly, so that an account and its clients are no reference cycle
                client.meta.events.register("before-call", _clock_check(weakref.ref(self)))
                self.failed.watch(client)
                self._clients[key] = client
        self.pool.touch(self)
        return client

    def drop_clients(self) -> None:
        """Forget this account's clients (a caller still holding one may go on using it)."""
        with self._lock:
            self._clients = {}


def _clock_check(account: weakref.ref[Account]) -> Callable[..., None]:
    def check(**kw: Any) -> None:
        acct = account()
        if acct is not None:
            acct.clock.check(**kw)
    return check


def base_session(options: AwsOptions) -> boto3.Session:
    """The session of the standard boto3 chain (or --profile), then --role-arn if given."""
    try:
        core = botocore.session.Session(profile=options.profile)
        core.get_scoped_config()  # raises ProfileNotFound now rather than mid-scan
    except ProfileNotFound as e:
        raise ConfigError(str(e)) from None
    share_models(core)
    _instrument(core)
    session = boto3.Session(botocore_session=core,
                            region_name=options.region or core.get_config_variable("region")
                            or DEFAULT_REGION)
    if options.role_arn:
        session = assume_role(session, options.role_arn, options, options.external_id)
    return session


def assume_role(source: boto3.Session, role_arn: str, options: AwsOptions,
                external_id: str | None = None) -> boto3.Session:
    """A session in the role's account. Credentials are fetched now (so a missing role fails
    here, for this account only) and refreshed before they expire."""
    region = source.region_name or DEFAULT_REGION

    def sts_client(service: str, **kw: Any) -> Any:
        return source.client(service, region_name=region, endpoint_url=options.endpoint_url,
                             config=options.config(), **kw)

    extra: dict[str, Any] = {"RoleSessionName": options.session_name}
    if external_id:
        extra["ExternalId"] = external_id
    creds = source.get_credentials()
    if creds is None:
        raise ConfigError("no AWS credentials found (profile, environment or instance role)")
    fetcher = AssumeRoleCredentialFetcher(sts_client, creds, role_arn, extra_args=extra)
    refreshable = DeferredRefreshableCredentials(refresh_using=fetcher.fetch_credentials,
                                                 method="assume-role")
    refreshable.get_frozen_credentials()  # assume now: raises ClientError if not allowed
    core = botocore.session.Session()
    # one data loader, model and client class per service for every account: each session
    # would otherwise parse its own copy of every service model
    share_models(core)
    core._credentials = refreshable  # no public setter; botocore's own assume-role does this
    _instrument(core)
    return boto3.Session(botocore_session=core, region_name=region)


def caller_account(session: boto3.Session, options: AwsOptions) -> str:
    sts = session.client("sts", endpoint_url=options.endpoint_url, config=options.config())
    return str(sts.get_caller_identity()["Account"])


def connect(options: AwsOptions) -> Account:
    """The account the credentials (and --role-arn) lead to; ConfigError when they don't."""
    try:
        session = base_session(options)
        account_id = caller_account(session, options)
    except (ClientError, BotoCoreError) as e:
        raise ConfigError(f"cannot authenticate to AWS: {e}") from None
    return Account(session, account_id, options)


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    """Items under `key` across every page (a single call when the API has no paginator)."""
    if client.can_paginate(operation):
        for page in client.get_paginator(operation).paginate(**kwargs):
            yield from page.get(key) or ()
    else:
        yield from getattr(client, operation)(**kwargs).get(key) or ()
