"""What a retried operation does, for BL101's severity (catalog, "Severity", row BL101).

- I/O: an outbound call, a database operation, a broker / cache / socket / subprocess call.
  A retry of I/O without a cap hammers a service that is down (high in request, task and
  library code). Recognised by the qualified name of the call (``requests.get``,
  ``subprocess.run``, ``psycopg2.connect``), by an ORM manager in the dotted name
  (``Model.objects.get``), or by a client-like receiver with a client verb
  (``session.execute``, ``self.redis.get``, ``ws.recv``).
- Long-lived loops gated on a running / shutdown flag (``while self.running``,
  ``while not stop.is_set()``): a reconnect loop that the process ends, low.
- In-memory optimistic retries: every handler catches ``RuntimeError`` (a dict or set
  changed during iteration by another thread), low.
- Cancellable lock waits: a non-blocking lock attempt (``lock.acquire(blocking=False)``,
  ``fcntl.flock(fd, LOCK_EX | LOCK_NB)``) with a sleep or a cancel flag, low.

Tables only, on qualified or dotted names; ``backendlint.analysis.retry_loops`` reads them.
"""

from __future__ import annotations

import re
from typing import Optional

# Modules whose calls are I/O (a qualified name equal to one of these or under it).
IO_MODULES = (
    "requests", "httpx", "aiohttp", "urllib.request", "urllib3", "http.client", "socket", "ssl",
    "smtplib", "imaplib", "poplib", "ftplib", "paramiko", "fabric", "subprocess", "asyncio.open_connection",
    "asyncio.create_subprocess_exec", "asyncio.create_subprocess_shell", "os.system", "os.popen",
    "psycopg2", "psycopg", "asyncpg", "pymysql", "MySQLdb", "mysql.connector", "sqlite3", "cx_Oracle",
    "pymongo", "motor", "redis", "aioredis", "pika", "aio_pika", "kombu", "kafka", "aiokafka",
    "confluent_kafka", "nats", "boto3", "botocore", "aiobotocore", "google.cloud", "azure", "grpc",
    "websockets", "websocket", "elasticsearch", "opensearchpy", "ldap", "ldap3", "docker", "kubernetes",
    "django.db.connection", "django.db.connections", "django.core.mail", "sqlalchemy.create_engine",
    "smbclient", "pysftp", "openai", "anthropic", "stripe", "slack_sdk", "twilio",
)

# Method names that are I/O on any receiver (no common in-memory meaning).
IO_METHODS = frozenset({
    "execute", "executemany", "executescript", "fetchone", "fetchall", "fetchmany", "commit", "rollback",
    "urlopen", "sendall", "recv", "recv_into", "recvfrom", "sendto", "basic_publish", "basic_consume",
    "basic_get", "publish", "subscribe", "psubscribe", "send_mail", "send_mass_mail", "sendmail",
    "send_message", "send_task", "apply_async", "refresh_from_db", "bulk_create", "bulk_update",
    "get_or_create", "update_or_create", "select_for_update", "upload_file", "download_file",
    "upload_fileobj", "download_fileobj", "put_object", "get_object", "delete_object", "list_objects",
    "list_objects_v2", "do_handshake", "urlretrieve", "ping", "connect", "create_connection", "reconnect",
    "scalar", "scalars",
})

# Receivers (the last part of the dotted name, split on "_") that are clients of a service.
CLIENT_WORDS = frozenset({
    "session", "client", "http", "api", "conn", "connection", "cursor", "cur", "db", "database", "engine",
    "redis", "cache", "broker", "channel", "producer", "consumer", "queue", "socket", "sock", "ws",
    "websocket", "s3", "bucket", "smtp", "ldap", "pool", "stub", "es", "mongo", "collection", "rpc",
    "requests", "httpx", "server", "remote", "kafka", "pubsub", "sftp", "ssh", "docker", "k8s",
})
# Verbs that are I/O on a client-like receiver.
CLIENT_VERBS = frozenset({
    "get", "post", "put", "patch", "delete", "head", "options", "request", "send", "query", "set",
    "setex", "incr", "decr", "hget", "hset", "lpush", "rpush", "blpop", "brpop", "xadd", "xread",
    "read", "write", "call", "fetch", "poll", "consume", "listen", "receive", "add", "insert",
    "insert_one", "find", "find_one", "update", "update_one", "search", "index", "open", "login",
    "bind", "search_s", "run", "exec_run", "stream", "iter_content", "getresponse", "merge", "acquire",
})

ORM_MANAGER = re.compile(r"(^|\.)(objects|_default_manager|_base_manager)(\.|$)")

# A flag that gates a long-lived loop: the process or the owner ends it.
RUNNING_FLAG = re.compile(
    r"(^|_)(running|stop|stopped|stopping|shutdown|shutting_down|closed|closing|alive|exit|exiting|"
    r"should_exit|cancel|cancelled|canceled|terminate|terminated)($|_)"
)
# ``stop_event.is_set()``: an event that ends the loop.
EVENT_TEST = "is_set"

# Exceptions of an in-memory optimistic retry (a concurrent mutation during iteration).
OPTIMISTIC_ERRORS = frozenset({"RuntimeError"})

# Non-blocking lock attempts.
LOCK_CALLS = frozenset({"fcntl.flock", "fcntl.lockf", "msvcrt.locking"})
NONBLOCKING_FLAGS = frozenset({"LOCK_NB", "LK_NBLCK", "LK_NBRLCK"})
ACQUIRE = "acquire"


def is_io_qualified(qualified: Optional[str]) -> bool:
    """A call whose qualified name is in an I/O module."""
    if not qualified:
        return False
    return any(qualified == m or qualified.startswith(m + ".") for m in IO_MODULES)


def is_io_method(dotted: Optional[str]) -> bool:
    """A call written ``receiver.method`` that is I/O by the method or the receiver."""
    if not dotted or "." not in dotted:
        return False
    if ORM_MANAGER.search(dotted):
        return True
    receiver, _, method = dotted.rpartition(".")
    if method in IO_METHODS:
        return True
    if method in CLIENT_VERBS:
        words = set(receiver.rsplit(".", 1)[-1].lower().lstrip("_").split("_"))
        return bool(words & CLIENT_WORDS)
    return False


def is_running_flag(dotted: Optional[str]) -> bool:
    """``self.running``, ``stop``, ``self._shutdown``, ``closed``, ``is_alive``."""
    if not dotted:
        return False
    return bool(RUNNING_FLAG.search(dotted.rsplit(".", 1)[-1].lower().lstrip("_")))
