"""``wloadctl server``: one replica (Raft node + state + gRPC API)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import ssl
import sys
from collections.abc import Awaitable

import grpc
import lmdb
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from wloadctl.api.auth import ApiKeyServicer, AuthServicer, CertificateAuthServicer, RoleServicer, UserServicer
from wloadctl.api.authn import Authenticator
from wloadctl.api.authz import Guard
from wloadctl.api.cluster import ClusterServicer
from wloadctl.api.consistency import AppliedWaiter
from wloadctl.api.context import ApiContext
from wloadctl.api.governance import ApprovalServicer, AuditServicer, DenialReporter
from wloadctl.api.http_app import HttpServer
from wloadctl.api.interceptors import add_service
from wloadctl.api.jobs import JobServicer
from wloadctl.api.runs import RunServicer
from wloadctl.api.secrets import SecretServicer
from wloadctl.api.watch import WatchHub, WatchServicer
from wloadctl.api.webhooks import EventWebhook
from wloadctl.api.workflows import WorkflowServicer
from wloadctl.config import ConfigError, ServerConfig, describe_error, ensure_dir, load_config
from wloadctl.config.addresses import is_loopback
from wloadctl.console import Console
from wloadctl.control.controller import Controller
from wloadctl.control.link import AgentLinkServicer
from wloadctl.fsutil import set_storage_failure_handler
from wloadctl.logs import setup_logging
from wloadctl.observability.runs import RunMetrics
from wloadctl.proto.v1 import (
    agent_pb2_grpc,
    api_pb2,
    api_pb2_grpc,
    approval_pb2,
    approval_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    commands_pb2,
    secrets_pb2,
    secrets_pb2_grpc,
    watch_pb2,
    watch_pb2_grpc,
    workflows_pb2,
    workflows_pb2_grpc,
)
from wloadctl.raft.node import RaftBindError, RaftNode
from wloadctl.raft.proposer import Proposer
from wloadctl.raft.reads import ReadBarrier
from wloadctl.raft.recovery import RecoveryError
from wloadctl.security.certs import CertError, CertPaths, peer_identity, server_credentials
from wloadctl.server.failstop import fail_stop, fail_stop_incompatible
from wloadctl.server.listen import bind_error, check_listen_addresses
from wloadctl.server.metrics_port import replica_metrics
from wloadctl.server.testclock import wall_clock
from wloadctl.state.store import Store, set_incompatible_entry_handler

log = logging.getLogger("wloadctl.server")


def run_server(config_path: str, insecure: bool = False, log_format: str | None = None,
               log_level: str | None = None) -> int:
    # Every check that can fail on a bad configuration runs before the first log line, so
    # that such a failure is one `error:` line on stderr (docs/operations.md).
    try:
        config = load_config(config_path)
        secret = config.read_secret()
        agent_credentials = _agent_credentials(config, insecure)
        api_credentials = None if insecure else _api_credentials(config)
        if secret is None and config.multi_replica and not insecure:
            raise ConfigError("secret_file: a multi-replica cluster needs a cluster secret to encrypt and "
                              "authenticate Raft traffic (or --insecure, for a trusted network only)")
        check_listen_addresses(config.listen_addresses())
        ensure_dir(config.data_dir, "data_dir", mode=0o700)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    setup_logging(log_format or config.log_format, log_level or config.log_level, config.node_id)
    # Audit records and secrets' values are encrypted under the cluster secret, the same on every
    # replica; without a secret file (one replica, or --insecure) under a fixed key: not
    # confidential (docs/security.md).
    audit_secret = secret
    if secret is None:
        if config.multi_replica:
            log.warning("running WITHOUT a cluster secret: Raft traffic is neither encrypted nor authenticated")
        else:
            # No peer needs it, but pysyncobj still listens: never accept
            # unauthenticated (pickled) messages on that port.
            secret = secrets.token_hex(32)
    try:
        return uvloop.run(_serve(config, secret, agent_credentials, api_credentials, audit_secret, not insecure))
    except RecoveryError as e:
        log.error("cannot start: %s", e)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {describe_error(e)}", file=sys.stderr)
        return 1


def _agent_credentials(config: ServerConfig, insecure: bool) -> grpc.ServerCredentials | None:
    """The agent port's TLS credentials, read and checked now (None: plain, with --insecure)."""
    if config.tls_cert is None or config.tls_key is None or config.tls_ca is None:
        if insecure:
            return None
        raise ConfigError("tls: the agent port needs ca, cert and key (create them with wloadctl certs init/issue), "
                          "or --insecure, for a trusted network only")
    try:
        return server_credentials(CertPaths(cert=config.tls_cert, key=config.tls_key, ca=config.tls_ca), table="tls")
    except CertError as e:
        raise ConfigError(str(e)) from None


def _api_credentials(config: ServerConfig) -> grpc.ServerCredentials:
    """The client API's TLS: the replica's certificate; clients authenticate with tokens or keys."""
    assert config.tls_cert is not None and config.tls_key is not None and config.tls_ca is not None
    try:
        return server_credentials(CertPaths(cert=config.tls_cert, key=config.tls_key, ca=config.tls_ca),
                                  require_client_auth=False, table="tls")
    except CertError as e:
        raise ConfigError(str(e)) from None


def _grpc_server(max_message_bytes: int, *options: tuple[str, int]) -> grpc.aio.Server:
    # so_reuseport 0: gRPC sets SO_REUSEPORT by default, and then a second replica configured
    # with the same port binds it too and silently takes half of the connections.
    return grpc.aio.server(options=[("grpc.max_receive_message_length", max_message_bytes),
                                    ("grpc.max_send_message_length", max_message_bytes),
                                    ("grpc.so_reuseport", 0), *options])


def _listen(server: grpc.aio.Server, setting: str, address: str,
            credentials: grpc.ServerCredentials | None = None) -> None:
    try:
        bound = (server.add_secure_port(address, credentials) if credentials is not None
                 else server.add_insecure_port(address))
    except RuntimeError:  # "Failed to bind"; older grpcio versions return 0 instead
        bound = 0
    if not bound:
        raise bind_error(setting, address)


async def _serve(config: ServerConfig, secret: str | None, agent_credentials: grpc.ServerCredentials | None,
                 api_credentials: grpc.ServerCredentials | None, audit_secret: str | None,
                 authenticate: bool) -> int:
    # A journal or state write that fails (disk full) stops the process: see wloadctl/fsutil.py.
    set_storage_failure_handler(fail_stop)
    # So does an entry this version cannot apply (an unknown command type): see state/store.py.
    set_incompatible_entry_handler(fail_stop_incompatible)
    # Both gRPC ports are bound (not yet served) before Raft starts or the data dir is opened.
    server = _grpc_server(config.max_message_bytes)
    _listen(server, "api_address", config.api_address, api_credentials)
    if api_credentials is None:
        log.warning("client API WITHOUT TLS and authentication (--insecure): every caller may do everything")
    agent_server = _grpc_server(config.max_message_bytes, ("grpc.keepalive_time_ms", 10_000),
                                ("grpc.http2.min_ping_interval_without_data_ms", 1_000),
                                ("grpc.keepalive_permit_without_calls", 1))
    _listen(agent_server, "agent_address", config.agent_address, agent_credentials)
    if agent_credentials is None:
        log.warning("agent link WITHOUT TLS: any process that reaches the agent port can pose as an agent")
    # The console's routes join the HTTP port's before it starts; it gets the API once that is ready.
    console = Console()
    http = await _start_http(config, api_credentials is not None, console)
    try:
        store = Store(config.data_dir / "state", cluster_secret=audit_secret)
    except (lmdb.Error, OSError) as e:
        if http is not None:
            await http.close()
        raise RecoveryError(f"data_dir: cannot open the state: {describe_error(e)}") from None
    loop = asyncio.get_running_loop()
    role_changed = asyncio.Event()
    api_ref: list[ApiContext] = []
    hub_ref: list[WatchHub] = []
    try:
        node = RaftNode(config.node_id, config.raft_address, [p.raft_address for p in config.peers],
                        config.data_dir, store, secret, config.timers,
                        on_role_change=lambda _role: loop.call_soon_threadsafe(_role_changed, role_changed, api_ref,
                                                                               hub_ref),
                        bind_address=config.raft_bind_address or None)
    except (lmdb.Error, OSError) as e:
        store.close()
        raise RecoveryError(f"data_dir: cannot open the Raft journal: {describe_error(e)}") from None
    try:
        node.start()
        clock = wall_clock()
        proposer = Proposer(node, clock=clock)
        # Always: /metrics on the HTTP port; metrics_address, when set, serves the same registry too.
        try:
            collector, registry = replica_metrics(node, proposer, config.metrics_address)
        except OSError:
            raise bind_error("metrics_address", config.metrics_address) from None
    except RaftBindError:
        store.close()
        raise bind_error(config.raft_bind_setting, config.raft_bind_address or config.raft_address) from None
    except BaseException:
        node.stop()
        store.close()
        raise
    proposer.start()
    ca_pem = config.tls_ca.read_bytes() if api_credentials is not None and config.tls_ca is not None else None
    applied_waiter = AppliedWaiter(store.applied_index, loop)
    store.feed.listeners.append(applied_waiter.on_applied)
    store.feed.max_bytes = int(config.control.watch_feed_mib * (1 << 20))
    watch_hub = WatchHub(store.feed, loop, int(config.control.watch_max_streams),
                         config.control.watch_send_timeout_s)
    api = ApiContext(config=config, node=node, store=store, proposer=proposer,
                     secret=secret.encode() if secret else None, ca_pem=ca_pem,
                     reads=ReadBarrier(node, loop), applied_waiter=applied_waiter)
    controller = Controller(node, store, proposer, config.node_id, config.control, wall_clock=clock,
                            probe_followers=lambda: _probe_followers(api))
    api.controller = controller
    run_metrics = RunMetrics(store.feed, store.applied_index(), store.state_time_ms)
    run_metrics.start()
    collector.controller = controller
    collector.api_metrics = api.metrics
    collector.run_metrics = run_metrics
    if config.tls_cert is not None:
        collector.read_tls_certificates(config.tls_cert, config.tls_ca)
    api_ref.append(api)
    hub_ref.append(watch_hub)

    denials = DenialReporter(api)
    guard = Guard(Authenticator(store, api.secret) if authenticate else None, on_denied=denials.report)
    cluster_servicer = ClusterServicer(api)
    for servicer, add in ((JobServicer(api), api_pb2_grpc.add_JobServiceServicer_to_server),
                          (cluster_servicer, api_pb2_grpc.add_ClusterServiceServicer_to_server),
                          (RunServicer(api, controller), api_pb2_grpc.add_RunServiceServicer_to_server),
                          (AuthServicer(api, denials.report), auth_pb2_grpc.add_AuthServiceServicer_to_server),
                          (UserServicer(api), auth_pb2_grpc.add_UserServiceServicer_to_server),
                          (RoleServicer(api), auth_pb2_grpc.add_RoleServiceServicer_to_server),
                          (ApiKeyServicer(api), auth_pb2_grpc.add_ApiKeyServiceServicer_to_server),
                          (AuditServicer(api), audit_pb2_grpc.add_AuditServiceServicer_to_server),
                          (ApprovalServicer(api), approval_pb2_grpc.add_ApprovalServiceServicer_to_server),
                          (SecretServicer(api), secrets_pb2_grpc.add_SecretServiceServicer_to_server),
                          (WorkflowServicer(api), workflows_pb2_grpc.add_WorkflowServiceServicer_to_server),
                          (WatchServicer(api, watch_hub, cluster_servicer.build_status),
                           watch_pb2_grpc.add_WatchServiceServicer_to_server)):
        add_service(server, servicer, add, guard)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    service_names = [
        api_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
        api_pb2.DESCRIPTOR.services_by_name["ClusterService"].full_name,
        api_pb2.DESCRIPTOR.services_by_name["RunService"].full_name,
        *(s.full_name for s in auth_pb2.DESCRIPTOR.services_by_name.values()),
        audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
        approval_pb2.DESCRIPTOR.services_by_name["ApprovalService"].full_name,
        secrets_pb2.DESCRIPTOR.services_by_name["SecretService"].full_name,
        workflows_pb2.DESCRIPTOR.services_by_name["WorkflowService"].full_name,
        watch_pb2.DESCRIPTOR.services_by_name["WatchService"].full_name,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    ]
    reflection.enable_server_reflection(service_names, server)
    await server.start()
    identity = peer_identity if agent_credentials is not None else None
    agent_pb2_grpc.add_AgentLinkServicer_to_server(AgentLinkServicer(controller, identity), agent_server)
    if identity is not None and authenticate:
        # Client certificates authenticate here, where mutual TLS is required (the API port's TLS
        # cannot ask for a certificate without requiring one from every client).
        auth_pb2_grpc.add_CertificateAuthServicer_to_server(CertificateAuthServicer(api, identity), agent_server)
    await agent_server.start()
    log.info("agent link listening", extra={"agent_address": config.agent_address, "tls": identity is not None})
    webhook = EventWebhook(api)
    collector.webhook = webhook
    if http is not None:
        console.connect(api, authenticate)
        http.activate([webhook.route()], registry)
    controller.start()
    for name in ("", *service_names[:-2]):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("replica started", extra={"api": config.api_address, "raft": config.raft_address,
                                       "peers": ",".join(p.raft_address for p in config.peers)})

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(_leader_duties(api, role_changed))
    await stop.wait()

    log.info("shutting down")
    for name in ("", *service_names[:-2]):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    watcher.cancel()
    # Each step is bounded: a stop must reach node.stop (the journal's last sync) and exit even
    # when a peer is silently partitioned away or a task ignores its cancellation.
    await _bounded("controller", controller.stop(), 15)
    await _bounded("run metrics", run_metrics.stop(), 2)
    await _bounded("agent link", agent_server.stop(grace=1), 5)
    if http is not None:
        await _bounded("HTTP port", http.close(), 5)
    await _bounded("API", server.stop(grace=2), 5)
    await _bounded("proposer", proposer.stop(), 5)
    await _bounded("API clients", api.close(), 5)
    await asyncio.to_thread(node.stop)
    store.close()
    log.info("stopped")
    return 0


async def _start_http(config: ServerConfig, tls_configured: bool, console: Console) -> HttpServer | None:
    """Bind the HTTP port now (it answers 503 until the API is ready: HttpServer.activate).

    Plain HTTP on loopback; on any other interface HTTPS with the replica's certificate, unless the
    API itself runs without TLS (--insecure). The port serves the webhook, /metrics and the console."""
    if not config.http_address:
        return None
    host, _, port = config.http_address.rpartition(":")
    host = host.strip("[]")
    context: ssl.SSLContext | None = None
    if tls_configured and not is_loopback(host):
        assert config.tls_cert is not None and config.tls_key is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(str(config.tls_cert), str(config.tls_key))
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"tls: the HTTP port cannot use the replica's certificate: {e}") from None
    server = HttpServer([])
    console.use_https(context is not None)
    console.install(server.app)
    try:
        await server.start(host, int(port), context)
    except OSError:
        raise bind_error("http_address", config.http_address) from None
    if context is None and not is_loopback(host):
        log.warning("HTTP port WITHOUT TLS on a non-loopback address (--insecure)",
                    extra={"http_address": config.http_address})
    log.info("HTTP port listening", extra={"http_address": config.http_address, "tls": context is not None})
    return server


async def _bounded(what: str, step: Awaitable[object], seconds: float) -> None:
    try:
        await asyncio.wait_for(step, seconds)
    except TimeoutError:
        log.warning("shutdown: %s did not stop within %.0f s; going on", what, seconds)


async def _probe_followers(api: ApiContext) -> dict[str, int]:
    """Raft address -> agents connected to that follower (from its Status)."""
    async def one(raft_address: str) -> tuple[str, int]:
        address = api.api_address_of(raft_address)
        if not address:
            return raft_address, 0
        try:
            status = await api_pb2_grpc.ClusterServiceStub(api.channel(address)).Status(
                api_pb2.StatusRequest(), timeout=1, metadata=api.replica_metadata())
            return raft_address, status.agents_connected
        except grpc.aio.AioRpcError:
            return raft_address, 0

    others = [a for a in api.node.members() if a != api.node.raft_address]
    return dict(await asyncio.gather(*(one(a) for a in others)))


def _role_changed(event: asyncio.Event, api_ref: list[ApiContext], hub_ref: list[WatchHub]) -> None:
    event.set()
    if hub_ref:
        hub_ref[0].wake()  # cluster watches: a new role or leader
    if api_ref and api_ref[0].controller is not None:
        api_ref[0].controller.wake()


async def _leader_duties(api: ApiContext, role_changed: asyncio.Event) -> None:
    """On becoming leader of a new cluster, record its initial members."""
    while True:
        await role_changed.wait()
        role_changed.clear()
        if not api.node.is_leader() or api.store.raft_members():
            continue
        peers = [commands_pb2.Member(id=p.id, raft_address=p.raft_address, api_address=p.api_address)
                 for p in api.config.peers]
        command = commands_pb2.Command(idempotency_key=f"bootstrap-{api.config.node_id}",
                                       bootstrap=commands_pb2.Bootstrap(members=peers))
        for _ in range(50):
            try:
                result = await api.proposer.submit(command, timeout=5)
                if result.code != 0:  # apply() checks the configured members (ids and addresses)
                    log.error("cluster bootstrap refused: %s", result.message)
                else:
                    log.info("cluster bootstrapped", extra={"members": len(peers)})
                break
            except Exception as e:  # leadership may move meanwhile; the next leader retries
                if not api.node.is_leader():
                    break
                log.warning("bootstrap not committed yet: %s", e)
                await asyncio.sleep(0.2)
