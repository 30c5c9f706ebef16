"""High availability on ZooKeeper (spec section 11): who leads, and the fence every act passes.

Any number of ``run`` replicas share one configuration. They contend with kazoo's lock recipe
(the one its ``Election`` recipe is built on) under ``<root>/leader``; the holder is the leader
and the only replica that sweeps, writes state, calls DS actions and sends messages.

Why a fence and not just "I won the election": a leader can be paused (GC, SIGSTOP, a frozen VM)
past its session timeout, lose its ephemeral node to a standby that then leads, and resume in the
middle of a sweep still believing it leads. So every state write, DS action and send first asks
:meth:`Coordinator.fence`, which needs

* the local view: leadership won, session neither suspended nor lost (kazoo's connection events), and
* a round trip that ZooKeeper answers: our election node still exists and belongs to this session.

A paused process cannot pass the round trip after its session expired: ZooKeeper rejects an
expired session's requests, and the node is gone. State writes go further (:mod:`ds_monitor.state.zookeeper`):
the write and a check of our election node are one ZooKeeper transaction, so even a pause between
the fence and the write cannot let a deposed leader write. The recovery journal is written before
each DS call, so the one window left (a pause between the journal write and the HTTP request) is
seen by the new leader as an ``unknown`` attempt, which is re-read and never repeated blindly.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, LockTimeout
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry

from ds_monitor.config import ZooKeeperConfig
from ds_monitor.errors import CoordinationError, NotLeader

log = logging.getLogger("ds_monitor.coordination")
# kazoo logs every reconnect attempt as a warning (one a second while ZooKeeper is down); the
# coordinator reports the connection's state changes once each instead.
_kazoo_log = logging.getLogger("ds_monitor.coordination.kazoo")
_kazoo_log.setLevel(logging.ERROR)

LEADER = "leader"  # child of root: the election's contender nodes
STATE = "state"  # child of root: one node per state document (state.zookeeper)

SINGLE, LEADER_ROLE, STANDBY = "single", "leader", "standby"


# -- the replica's membership -------------------------------------------------------------------------


class Coordinator:
    """One replica's ZooKeeper session, its part in the election, and the fence.

    Thread-safe: kazoo delivers connection events on its own thread, the loop and the HTTP
    endpoint read the role on theirs; every shared field is guarded by ``_guard``.
    """

    def __init__(self, cfg: ZooKeeperConfig, *, identity: str | None = None):
        self.hosts = cfg.hosts
        self.root = cfg.root
        self.session_timeout = cfg.session_timeout_seconds
        self.identity = identity or f"{socket.gethostname()}:{os.getpid()}"
        self.client = KazooClient(
            hosts=cfg.hosts,
            timeout=cfg.session_timeout_seconds,
            # Reconnect forever in the background (a dead ZooKeeper must not end the daemon);
            # commands get a few quick retries and then fail loudly to the caller.
            connection_retry=KazooRetry(max_tries=-1, delay=0.2, max_delay=5, ignore_expire=False),
            command_retry=KazooRetry(max_tries=3, delay=0.1, max_delay=1),
            logger=_kazoo_log,
        )
        self.client.add_listener(self._on_connection_event)
        self._guard = threading.Lock()
        self._election = None  # the kazoo lock while we hold it
        self._connected = False
        self._started = False

    @property
    def leader_path(self) -> str:
        return f"{self.root}/{LEADER}"

    @property
    def state_path(self) -> str:
        return f"{self.root}/{STATE}"

    # -- session -----------------------------------------------------------------------------------

    def start(self, timeout: float | None = None) -> None:
        """Connect (raises CoordinationError naming the hosts when ZooKeeper does not answer)."""
        wait = timeout if timeout is not None else self.session_timeout
        try:
            self.client.start(timeout=wait)
            self.client.ensure_path(self.leader_path)
            self.client.ensure_path(self.state_path)
        except (KazooTimeoutError, KazooException) as err:
            self.client.stop()
            raise CoordinationError(
                f"ZooKeeper at {self.hosts} unreachable ({describe_error(err)} after {wait:g} s); "
                "check coordination.zookeeper.hosts"
            ) from err
        with self._guard:
            self._connected = True
            self._started = True
        log.info("connected to ZooKeeper %s (root %s) as %s", self.hosts, self.root, self.identity)

    def close(self) -> None:
        """Give up leadership (standbys take over at once instead of after the session timeout) and disconnect."""
        self.step_down()
        try:
            self.client.stop()
            self.client.close()
        except KazooException as err:
            log.debug("closing the ZooKeeper session: %s", err)

    def _on_connection_event(self, state: str) -> None:
        # Runs on kazoo's thread: only flags and a log line, never a ZooKeeper call.
        with self._guard:
            leading = self._election is not None
            if state == KazooState.CONNECTED:
                self._connected = True
            elif state == KazooState.SUSPENDED:
                self._connected = False
            elif state == KazooState.LOST:
                self._connected = False
                self._election = None
        if state == KazooState.SUSPENDED and leading:
            log.warning("ZooKeeper connection suspended: no writes, DS actions or messages until it is back")
        elif state == KazooState.LOST and leading:
            log.error("ZooKeeper session lost: this replica is no longer the leader")
        elif state == KazooState.CONNECTED and self._started:
            log.info("ZooKeeper connection (re-)established")

    # -- election ----------------------------------------------------------------------------------

    def try_lead(self, timeout: float = 0.0) -> bool:
        """Become the leader if nobody else is (waiting up to ``timeout`` seconds for the leader to go)."""
        with self._guard:
            if self._election is not None:
                return self._connected
        election = self.client.Lock(self.leader_path, identifier=self.identity)
        try:
            won = election.acquire(blocking=timeout > 0, timeout=timeout if timeout > 0 else None)
        except LockTimeout:
            won = False
        except (KazooTimeoutError, KazooException) as err:
            raise CoordinationError(
                f"ZooKeeper at {self.hosts}: cannot take part in the election ({describe_error(err)})"
            ) from err
        if not won:
            return False
        with self._guard:
            self._election = election
        log.info("this replica (%s) is now the leader", self.identity)
        return True

    def step_down(self) -> None:
        with self._guard:
            election, self._election = self._election, None
        if election is None:
            return
        try:
            election.release()
            log.info("leadership released")
        except (KazooTimeoutError, KazooException) as err:
            log.warning("could not release the leadership (the session timeout will): %s", describe_error(err))

    @property
    def is_leader(self) -> bool:
        """The local view (no round trip): won and connected. Acting needs :meth:`fence` as well."""
        with self._guard:
            return self._election is not None and self._connected

    @property
    def role(self) -> str:
        return LEADER_ROLE if self.is_leader else STANDBY

    @property
    def connected(self) -> bool:
        with self._guard:
            return self._connected

    def leader(self) -> str | None:
        """The identity of the current leader as ZooKeeper sees it, or None (nobody, or unknown)."""
        try:
            contenders = self.client.Lock(self.leader_path).contenders()
        except (KazooTimeoutError, KazooException) as err:
            log.debug("cannot read the election: %s", describe_error(err))
            return None
        return contenders[0] if contenders else None

    # -- the fence ---------------------------------------------------------------------------------

    def leader_node(self) -> str:
        """Path of our election node; raises NotLeader if we do not hold it (local view)."""
        with self._guard:
            election = self._election if self._connected else None
        if election is None or not election.node:
            raise NotLeader(f"this replica ({self.identity}) is not the leader or its ZooKeeper session is down")
        return f"{election.path}/{election.node}"

    def fence(self) -> None:
        """Pass only if ZooKeeper confirms, now, that this session holds the leadership."""
        node = self.leader_node()
        try:
            stat = self.client.exists(node)
        except (KazooTimeoutError, KazooException) as err:
            raise NotLeader(f"ZooKeeper did not confirm the leadership ({describe_error(err)}): not acting") from err
        session = self.client.client_id[0] if self.client.client_id else None
        if stat is None or stat.ephemeralOwner != session:
            self.lost_leadership("our election node is gone (session expired while paused?)")
            raise NotLeader("leadership lost: our election node is gone; not acting")

    def lost_leadership(self, why: str) -> None:
        """Forget the leadership after the server proved it gone (a fence or a fenced write failed)."""
        with self._guard:
            had, self._election = self._election is not None, None
        if had:
            log.error("no longer the leader: %s", why)


def fenced(action: Callable, fence: Callable[[], None]) -> Callable:
    """``action`` that first passes ``fence`` (used for DS actions and channel sends)."""

    def guarded(*args, **kwargs):
        fence()
        return action(*args, **kwargs)

    return guarded


class FencedClient:
    """The DS client for a leader: reads pass through, the recovery action passes the fence first."""

    def __init__(self, client, fence: Callable[[], None]):
        self._client = client
        self.recover_failed_node = fenced(client.recover_failed_node, fence)

    def __getattr__(self, name: str):
        return getattr(self._client, name)


class FencedSender:
    """A notification channel that sends only while the fence passes (standbys and deposed leaders send nothing)."""

    def __init__(self, sender, fence: Callable[[], None]):
        self._sender = sender
        self.send = fenced(sender.send, fence)
        if callable(getattr(sender, "sync", None)):  # Alertmanager posts from sync(), not send()
            self.sync = fenced(sender.sync, fence)

    def __getattr__(self, name: str):
        return getattr(self._sender, name)


def describe_error(err: BaseException) -> str:
    """A kazoo error in one line (its class says more than its often empty message)."""
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
