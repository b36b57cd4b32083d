"""BL101 unbounded-retry: focused cases, especially the tricky negatives."""

from __future__ import annotations

import textwrap

import pytest

from helpers import lint


def lines(tmp_path, source, **kw):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return [d.line for d in lint(tmp_path, source, select=["BL101"], **kw)]


def messages(tmp_path, source):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return [d.message for d in lint(tmp_path, source, select=["BL101"])]


def mark(source: str):
    """Lines marked ``# <-- BL101`` in a snippet (after dedent)."""
    return [i for i, line in enumerate(textwrap.dedent(source).splitlines(), 1) if "# <-- BL101" in line]


def check(tmp_path, source, **kw):
    assert lines(tmp_path, source, **kw) == mark(source)


# -- tenacity ------------------------------------------------------------------------


def test_tenacity_bare_and_called_without_stop(tmp_path):
    check(tmp_path, """
        import tenacity as tc
        from tenacity import retry as retry_on_failure, wait_fixed

        @tc.retry  # <-- BL101
        def a(): ...

        @retry_on_failure(wait=wait_fixed(2))  # <-- BL101
        def b(): ...

        @retry_on_failure()  # <-- BL101
        async def c(): ...
    """)


def test_tenacity_message_says_how_to_bound(tmp_path):
    (msg,) = messages(tmp_path, "from tenacity import retry\n@retry\ndef f(): ...\n")
    assert "tenacity @retry has no stop condition" in msg
    assert "stop=stop_after_attempt(N)" in msg and "stop_after_delay" in msg


def test_tenacity_explicit_stop_never_is_unbounded(tmp_path):
    check(tmp_path, """
        from tenacity import retry, stop_never
        from tenacity.stop import stop_never as forever

        @retry(stop=stop_never)  # <-- BL101
        def a(): ...

        @retry(stop=forever)  # <-- BL101
        def b(): ...
    """)
    assert "stop=stop_never" in messages(tmp_path / "m", "from tenacity import retry, stop_never\n@retry(stop=stop_never)\ndef f(): ...\n")[0]


def test_tenacity_bounded_stops(tmp_path):
    check(tmp_path, """
        import tenacity
        from tenacity import retry, stop_after_attempt, stop_after_delay, stop_never, Retrying

        @retry(stop=stop_after_attempt(5))
        def a(): ...

        @retry(stop=stop_after_delay(30) | stop_after_attempt(3))
        def b(): ...

        @retry(stop=stop_never | stop_after_attempt(3))
        def c(): ...

        @tenacity.retry(stop=tenacity.stop_any(stop_never, tenacity.stop_after_delay(5)))
        def d(): ...

        def e():
            for attempt in Retrying(stop=stop_after_attempt(3)):
                with attempt:
                    pass
    """)


def test_tenacity_stop_all_with_stop_never_is_unbounded(tmp_path):
    check(tmp_path, """
        from tenacity import retry, stop_after_attempt, stop_never

        @retry(stop=stop_after_attempt(3) & stop_never)  # <-- BL101
        def a(): ...
    """)


def test_tenacity_stop_held_in_a_variable(tmp_path):
    check(tmp_path, """
        from tenacity import retry, stop_after_attempt, stop_never, Retrying
        from settings import RETRY_STOP

        STOP = stop_after_attempt(4)
        FOREVER = stop_never

        @retry(stop=STOP)
        def a(): ...

        @retry(stop=RETRY_STOP)
        def b(): ...

        @retry(stop=FOREVER)  # <-- BL101
        def c(): ...

        def d(stop):
            for attempt in Retrying(stop=stop):
                with attempt:
                    pass

        def e():
            policy = stop_never
            return Retrying(stop=policy)  # <-- BL101
    """)


def test_for_attempt_in_retrying(tmp_path):
    check(tmp_path, """
        from tenacity import Retrying, AsyncRetrying, wait_exponential

        def sync():
            for attempt in Retrying(wait=wait_exponential()):  # <-- BL101
                with attempt:
                    call()

        async def asynchronous():
            async for attempt in AsyncRetrying(reraise=True):  # <-- BL101
                with attempt:
                    await call()
    """)


def test_tenacity_kwargs_passed_through_is_unknown(tmp_path):
    check(tmp_path, """
        from tenacity import retry, Retrying

        def make(**options):
            return retry(**options)

        def make2(*args, **options):
            return Retrying(*args, **options)
    """)


def test_tenacity_retrying_positional_stop(tmp_path):
    check(tmp_path, """
        import time
        from tenacity import Retrying, stop_after_attempt, stop_never

        ok = Retrying(time.sleep, stop_after_attempt(3))
        bad = Retrying(time.sleep, stop_never)  # <-- BL101
    """)


def test_local_function_named_retry_is_not_tenacity(tmp_path):
    check(tmp_path, """
        from tenacity import retry

        def wrapper():
            def retry(fn):
                return fn

            @retry
            def inner(): ...
            return inner

        def uses_parameter(retry):
            @retry
            def inner(): ...

        def later():
            @retry  # <-- BL101
            def inner(): ...
    """)


def test_module_level_redefinition_shadows_import(tmp_path):
    check(tmp_path, """
        from tenacity import retry

        def retry(fn):
            return fn

        @retry
        def a(): ...
    """)


def test_retry_from_a_project_module_is_not_tenacity(tmp_path):
    files = {
        "app/__init__.py": "",
        "app/utils.py": "def retry(fn=None, **kw):\n    return fn\n",
        "app/jobs.py": "from .utils import retry\n\n@retry\ndef job(): ...\n\n@retry(times=3)\ndef job2(): ...\n",
    }
    assert lint(tmp_path, files, select=["BL101"]) == []


def test_module_alias_of_tenacity_retry(tmp_path):
    check(tmp_path, """
        import tenacity

        with_retries = tenacity.retry

        @with_retries  # <-- BL101
        def a(): ...

        @with_retries(stop=tenacity.stop_after_attempt(2))
        def b(): ...
    """)


def test_retry_applied_as_a_call_not_a_decorator(tmp_path):
    check(tmp_path, """
        from tenacity import retry, stop_after_attempt

        def fetch(): ...

        fetch_forever = retry(fetch)  # <-- BL101
        fetch_thrice = retry(stop=stop_after_attempt(3))(fetch)
    """)


def test_decorator_reported_at_decorator_line(tmp_path):
    src = """\
from tenacity import retry


class Client:
    @retry(
        reraise=True,
    )
    def get(self): ...
"""
    assert lines(tmp_path, src) == [5]


# -- backoff --------------------------------------------------------------------------


def test_backoff(tmp_path):
    check(tmp_path, """
        import backoff as bk
        from backoff import on_exception, on_predicate, expo

        @bk.on_exception(bk.expo, ConnectionError)  # <-- BL101
        def a(): ...

        @on_predicate(expo)  # <-- BL101
        def b(): ...

        @on_exception(expo, ConnectionError, max_tries=None, max_time=None)  # <-- BL101
        async def c(): ...

        @on_exception(expo, ConnectionError, max_tries=5)
        def d(): ...

        @on_exception(expo, ConnectionError, max_time=60)
        def e(): ...

        @on_exception(expo, ConnectionError, max_tries=None, max_time=30)
        def f(): ...

        @on_exception(expo, ConnectionError, 8)
        def g(): ...
    """)


def test_backoff_kwargs_passed_through(tmp_path):
    check(tmp_path, """
        import backoff

        def retry_with(strategy, exception, *args, **kwargs):
            return backoff.on_exception(strategy, exception, *args, **kwargs)
    """)


def test_backoff_message(tmp_path):
    (msg,) = messages(tmp_path, "import backoff\n@backoff.on_exception(backoff.expo, OSError)\ndef f(): ...\n")
    assert "neither max_tries nor max_time" in msg and "max_tries=N" in msg


# -- retrying -------------------------------------------------------------------------


def test_retrying(tmp_path):
    check(tmp_path, """
        import retrying
        from retrying import retry

        @retry  # <-- BL101
        def a(): ...

        @retry(wait_fixed=2000, retry_on_exception=lambda e: True)  # <-- BL101
        def b(): ...

        @retrying.retry(stop_max_attempt_number=5, wait_fixed=2000)
        def c(): ...

        @retry(stop_max_delay=10000)
        def d(): ...

        @retry(stop_func=lambda attempts, delay: attempts > 3)
        def e(): ...
    """)


# -- urllib3 --------------------------------------------------------------------------


def test_urllib3_retry(tmp_path):
    check(tmp_path, """
        from urllib3.util.retry import Retry
        from requests.packages.urllib3.util import Retry as VendoredRetry
        import urllib3

        a = Retry(total=None)  # <-- BL101
        b = Retry(None, connect=3)  # <-- BL101
        c = VendoredRetry(total=None, read=2)  # <-- BL101
        d = urllib3.Retry(total=5)
        e = Retry(total=None, connect=3, read=3, status=3, other=3)
        f = Retry(connect=3)
        g = Retry(total=False)
        h = Retry(3)
    """)


def test_urllib3_message_names_the_unlimited_counters(tmp_path):
    (msg,) = messages(tmp_path, "from urllib3 import Retry\nr = Retry(total=None, connect=2, read=2)\n")
    assert "status, other" in msg and "total=5" in msg


def test_urllib3_retry_subclass(tmp_path):
    check(tmp_path, """
        from requests.adapters import HTTPAdapter, Retry

        class LoggingRetry(Retry):
            pass

        adapter = HTTPAdapter(max_retries=LoggingRetry(total=None, backoff_factor=1))  # <-- BL101
        adapter2 = HTTPAdapter(max_retries=LoggingRetry(total=3))
    """)


def test_other_libraries_retry_classes_are_not_urllib3(tmp_path):
    check(tmp_path, """
        from rq import Retry
        from redis.retry import Retry as RedisRetry

        a = Retry(max=3)
        b = RedisRetry(None, 3)
    """)


# -- stamina --------------------------------------------------------------------------


def test_stamina_is_bounded_by_default(tmp_path):
    check(tmp_path, """
        import stamina

        @stamina.retry(on=ConnectionError)
        def a(): ...

        @stamina.retry(on=ConnectionError, attempts=None)
        def b(): ...

        @stamina.retry(on=ConnectionError, attempts=None, timeout=None)  # <-- BL101
        def c(): ...

        def d():
            for attempt in stamina.retry_context(on=OSError, attempts=None, timeout=None):  # <-- BL101
                with attempt:
                    pass
    """)


# -- celery ---------------------------------------------------------------------------


def test_celery_decorator_max_retries_none_with_autoretry(tmp_path):
    check(tmp_path, """
        from celery import shared_task
        from proj.celery import app

        @shared_task(autoretry_for=(ConnectionError,), max_retries=None)  # <-- BL101
        def a(): ...

        @app.task(bind=True, max_retries=None)  # <-- BL101
        def b(self):
            try:
                send()
            except ConnectionError as exc:
                raise self.retry(exc=exc, countdown=60)

        @app.task(autoretry_for=(ConnectionError,), max_retries=5)
        def c(): ...

        @app.task(autoretry_for=(ConnectionError,))
        def d(): ...
    """)


def test_celery_max_retries_none_without_retrying_is_fine(tmp_path):
    check(tmp_path, """
        from proj.celery import app

        @app.task(max_retries=None)
        def a():
            send()
    """)


def test_celery_self_retry_max_retries_none_alone_falls_back_to_task_limit(tmp_path):
    check(tmp_path, """
        from proj.celery import app

        @app.task(bind=True)
        def a(self):
            try:
                send()
            except ConnectionError as exc:
                raise self.retry(exc=exc, max_retries=None)

        @app.task(bind=True, max_retries=None)
        def b(self):
            try:
                send()
            except ConnectionError as exc:
                raise self.retry(exc=exc, max_retries=10)
    """)


def test_celery_retry_kwargs(tmp_path):
    check(tmp_path, """
        from proj.celery import app

        # retry_kwargs go to Task.retry, where max_retries=None means "the task's limit" (3)
        @app.task(autoretry_for=(OSError,), retry_kwargs={"max_retries": None})
        def a(): ...

        @app.task(autoretry_for=(OSError,), max_retries=None, retry_kwargs={"max_retries": 8})
        def b(): ...

        @app.task(autoretry_for=(OSError,), max_retries=None, retry_kwargs={"max_retries": None})  # <-- BL101
        def c(): ...

        @app.task(autoretry_for=(OSError,), max_retries=None, retry_kwargs=RETRY_OPTIONS)
        def d(): ...

        @app.task(autoretry_for=(OSError,), max_retries=None, retry_kwargs={"countdown": 5})  # <-- BL101
        def e(): ...
    """)


def test_celery_task_subclass(tmp_path):
    check(tmp_path, """
        from typing import Any
        from celery import Task
        from proj.celery import app

        class ForeverTask(Task):
            autoretry_for = (ConnectionError,)
            max_retries = None  # <-- BL101

        class NoLimitBase(Task):
            max_retries = None

        class Generic(Task[Any, Any]):
            autoretry_for = (Exception,)
            max_retries = None  # <-- BL101

        class Bounded(Task):
            autoretry_for = (ConnectionError,)
            max_retries = 5

        @app.task(base=NoLimitBase, autoretry_for=(OSError,))  # <-- BL101
        def a(): ...

        @app.task(base=NoLimitBase)
        def b(): ...

        @app.task(base=Bounded)
        def c(): ...
    """)


def test_celery_base_class_in_another_file(tmp_path):
    files = {
        "proj/__init__.py": "",
        "proj/base.py": "import celery\n\nclass Unlimited(celery.Task):\n    max_retries = None\n",
        "proj/tasks.py": (
            "from proj.celery import app\n"
            "from .base import Unlimited\n\n"
            "@app.task(base=Unlimited, bind=True)\n"
            "def sync(self):\n"
            "    try:\n        pull()\n"
            "    except IOError as exc:\n        raise self.retry(exc=exc)\n"
        ),
    }
    diags = lint(tmp_path, files, select=["BL101"])
    assert [(d.path, d.line) for d in diags] == [("proj/tasks.py", 4)]
    assert "max_retries" in diags[0].message


# -- hand-written loops ---------------------------------------------------------------


def test_while_true_retry_loop(tmp_path):
    check(tmp_path, """
        import time

        def fetch(url):
            while True:  # <-- BL101
                try:
                    return get(url)
                except ConnectionError:
                    time.sleep(1)

        def connect():
            while 1:  # <-- BL101
                try:
                    conn = open_connection()
                    break
                except OSError:
                    continue
            return conn

        def with_else():
            while True:  # <-- BL101
                try:
                    conn = open_connection()
                except OSError:
                    time.sleep(1)
                else:
                    return conn

        def exit_after_try():
            while True:  # <-- BL101
                try:
                    conn = open_connection()
                except OSError:
                    time.sleep(1)
                    continue
                break
    """)


def test_async_retry_loop(tmp_path):
    check(tmp_path, """
        import asyncio

        class Client:
            async def send(self, payload):
                while True:  # <-- BL101
                    try:
                        return await self._post(payload)
                    except asyncio.TimeoutError:
                        await asyncio.sleep(2)
    """)


def test_counter_incremented_but_never_compared_is_a_finding(tmp_path):
    src = """
        import logging, time
        log = logging.getLogger(__name__)

        def fetch():
            attempt = 0
            while True:  # <-- BL101
                attempt += 1
                try:
                    log.info("attempt %s", attempt)
                    return get()
                except ConnectionError:
                    time.sleep(min(2 ** attempt, 60))
    """
    check(tmp_path, src)
    (msg,) = messages(tmp_path / "m", textwrap.dedent(src))
    assert "`attempt`" in msg and "never compares" in msg


def test_message_names_only_attempt_counters(tmp_path):
    src = """
        def a():
            total = 0
            while True:
                try:
                    rows = fetch()
                    break
                except OSError:
                    total += len(rows or [])
            return total
    """
    (msg,) = messages(tmp_path, textwrap.dedent(src))
    assert "total" not in msg and "no attempt limit" in msg
    src2 = "import itertools\nfor attempt in itertools.count():\n    try:\n        op()\n        break\n    except OSError:\n        pass\n"
    (msg2,) = messages(tmp_path / "b", src2)
    assert "`attempt`" in msg2


def test_counter_compared_is_bounded(tmp_path):
    check(tmp_path, """
        import time

        def a():
            attempt = 0
            while True:
                try:
                    return get()
                except ConnectionError:
                    attempt += 1
                    if attempt >= 5:
                        raise
                    time.sleep(1)

        def b():
            retries = 5
            while True:
                try:
                    return get()
                except ConnectionError:
                    retries -= 1
                    if retries:
                        time.sleep(1)
                        continue
                    raise

        def c():
            attempts = 0
            while True:
                attempts = attempts + 1
                try:
                    return get()
                except ConnectionError:
                    if attempts > 3:
                        break

        class Worker:
            def d(self):
                while True:
                    try:
                        return get()
                    except ConnectionError:
                        self.failures += 1
                        if self.failures > self.limit:
                            raise
    """)


def test_deadline_compared_is_bounded(tmp_path):
    check(tmp_path, """
        import time, asyncio

        def a():
            deadline = time.monotonic() + 30
            while True:
                try:
                    return get()
                except ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)

        def b():
            start = time.time()
            while True:
                try:
                    return get()
                except ConnectionError:
                    elapsed = time.time() - start
                    if elapsed > 60:
                        raise TimeoutError()

        def c(timeout):
            deadline = time.monotonic() + timeout
            while True:
                check_deadline(deadline)
                try:
                    return get()
                except BlockingIOError:
                    wait_readable()

        async def d():
            async with asyncio.timeout(30):
                while True:
                    try:
                        return await get()
                    except ConnectionError:
                        await asyncio.sleep(1)
    """)


def test_range_and_comparison_loops_are_bounded(tmp_path):
    check(tmp_path, """
        import time

        def a():
            for attempt in range(5):
                try:
                    return get()
                except ConnectionError:
                    time.sleep(1)
            raise RuntimeError("gave up")

        def b():
            attempts = 0
            while attempts < 5:
                try:
                    return get()
                except ConnectionError:
                    attempts += 1
    """)


def test_itertools_count_loop(tmp_path):
    check(tmp_path, """
        import itertools
        from itertools import count

        def a():
            for attempt in itertools.count(1):  # <-- BL101
                try:
                    return get()
                except ConnectionError:
                    pass

        def b():
            for attempt in count():
                try:
                    return get()
                except ConnectionError:
                    if attempt >= 4:
                        raise
    """)


def test_while_flag_loops(tmp_path):
    check(tmp_path, """
        import time

        def a():
            connected = False
            while not connected:  # <-- BL101
                try:
                    connect()
                    connected = True
                except OSError:
                    time.sleep(1)

        def b():
            running = True
            while running:  # <-- BL101
                try:
                    sync()
                    running = False
                except OSError:
                    time.sleep(1)

        def c():
            conn = None
            while conn is None:  # <-- BL101
                try:
                    conn = connect()
                except OSError:
                    time.sleep(1)

        def d():
            connected = False
            tries = 0
            while not connected:
                try:
                    connect()
                    connected = True
                except OSError:
                    tries += 1
                    if tries == 3:
                        raise
    """)


def test_work_list_is_not_a_flag(tmp_path):
    check(tmp_path, """
        def a(pending):
            while pending:
                item = pending.pop()
                try:
                    return handle(item)
                except ValueError:
                    continue
    """)


def test_supervisor_loop_without_success_exit_is_not_a_finding(tmp_path):
    check(tmp_path, """
        import time, logging
        log = logging.getLogger(__name__)

        def consume(queue):
            while True:
                try:
                    for message in queue.listen():
                        handle(message)
                except ConnectionError:
                    log.exception("listener died, reconnecting")
                    time.sleep(5)

        class Listener:
            def run(self):
                while not self.stopping:
                    try:
                        self.poll_once()
                    except Exception:
                        log.exception("poll failed")
                    time.sleep(1)
    """)


def test_consumer_loop_with_conditional_exit_is_not_a_retry(tmp_path):
    check(tmp_path, """
        def a(ws):
            while True:
                try:
                    message = ws.receive()
                    if message is None:
                        break
                    handle(message)
                except ValueError:
                    continue

        def b(sock):
            chunks = []
            while True:
                try:
                    data = sock.recv(1024)
                except TimeoutError:
                    continue
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks)
    """)


def test_wait_for_service_with_conditional_success(tmp_path):
    check(tmp_path, """
        import time
        import asyncio
        import requests

        def wait_for_api(url):
            while True:  # <-- BL101
                try:
                    response = requests.get(url, timeout=5)
                    if response.status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(2)

        async def wait_for_job(client, job_id):
            delay = 1
            while True:  # <-- BL101
                try:
                    job = await client.get_job(job_id)
                except ConnectionError:
                    await asyncio.sleep(delay)
                    continue
                if job.done:
                    return job.result
                delay = min(delay * 2, 30)
                await asyncio.sleep(delay)

        def wait_with_deadline(url):
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(url, timeout=5).ok:
                        return
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(url)
                time.sleep(1)
    """)


def test_consumer_that_sleeps_but_works_after_the_check_is_not_a_retry(tmp_path):
    check(tmp_path, """
        import time

        def drain(queue):
            while True:
                try:
                    batch = queue.fetch()
                    if not batch:
                        break
                    process(batch)
                except TransientError:
                    time.sleep(1)
    """)


def test_pagination_and_polling_without_exception_handling(tmp_path):
    check(tmp_path, """
        import time

        def pages(client):
            url = client.first()
            while True:
                page = client.get(url)
                yield from page.items
                if not page.next:
                    break
                url = page.next

        def poll(job):
            while True:
                status = job.status()
                if status == "done":
                    return job.result()
                time.sleep(5)
    """)


def test_except_branch_that_reraises_breaks_or_returns(tmp_path):
    check(tmp_path, """
        def a():
            while True:
                try:
                    return get()
                except ConnectionError:
                    log()
                    raise

        def b():
            while True:
                try:
                    value = get()
                    break
                except ConnectionError:
                    value = None
                    break
            return value

        def c():
            while True:
                try:
                    return get()
                except ConnectionError:
                    return None
    """)


def test_except_branch_that_reraises_only_sometimes_still_goes_round(tmp_path):
    check(tmp_path, """
        def a():
            while True:  # <-- BL101
                try:
                    return get()
                except ConnectionError as exc:
                    if not is_transient(exc):
                        raise
    """)


def test_limit_kept_elsewhere_bounds_the_loop(tmp_path):
    check(tmp_path, """
        def monitor(self, job):
            while True:
                try:
                    result = self.wait_for_child()
                    break
                except TimeoutError:
                    self.update_elapsed(job)
                    if self.elapsed > job.timeout + 60:
                        self.kill_child()
                        break
            return result
    """)


def test_comparison_on_the_attempt_result_is_not_a_limit(tmp_path):
    check(tmp_path, """
        import time

        def a():
            while True:  # <-- BL101
                try:
                    response = get()
                    if response.status_code >= 500:
                        raise ServerError()
                    return response
                except ServerError:
                    time.sleep(1)

        def b():
            while True:  # <-- BL101
                try:
                    return get()
                except HTTPError as exc:
                    if exc.code < 500:
                        raise
                    time.sleep(1)
    """)


def test_one_shot_flag_bounds_the_loop(tmp_path):
    check(tmp_path, """
        def a(retry=True):
            while True:
                try:
                    return get()
                except PermissionError:
                    if retry:
                        refresh_credentials()
                        retry = False
                        continue
                    raise
    """)


def test_walking_to_the_next_candidate_is_progress_not_retry(tmp_path):
    check(tmp_path, """
        def device_of(path):
            current = path
            while True:
                try:
                    return current.stat().st_dev
                except OSError:
                    parent = current.parent
                    if parent == current:
                        return None
                    current = parent

        def free_port(sock, port):
            while True:
                try:
                    sock.bind(("", port))
                    return port
                except OSError:
                    port += 1
    """)


def test_fresh_connection_in_except_branch_is_still_a_retry(tmp_path):
    check(tmp_path, """
        class Db:
            def query(self, sql):
                while True:  # <-- BL101
                    try:
                        return self.conn.execute(sql)
                    except ConnectionError:
                        self.conn = connect()
    """)


def test_prompt_loops_are_not_retries(tmp_path):
    check(tmp_path, """
        import click

        def ask():
            while True:
                try:
                    return int(input("How many? "))
                except ValueError:
                    print("Please enter a number")

        def ask_click():
            while True:
                try:
                    return int(click.prompt("How many?"))
                except ValueError:
                    click.echo("Please enter a number")
    """)


def test_module_level_retry_loop(tmp_path):
    check(tmp_path, """
        import time
        while True:  # <-- BL101
            try:
                connection = connect()
                break
            except OSError:
                time.sleep(1)
    """)


def test_nested_try_inside_with(tmp_path):
    check(tmp_path, """
        import threading, time
        lock = threading.Lock()

        def a():
            while True:  # <-- BL101
                with lock:
                    try:
                        return get()
                    except ConnectionError:
                        pass
                time.sleep(1)
    """)


# -- recursion ------------------------------------------------------------------------


def test_recursive_retry_from_except_handler(tmp_path):
    check(tmp_path, """
        import time

        def fetch(url):
            try:
                return get(url)
            except ConnectionError:
                time.sleep(1)
                return fetch(url)  # <-- BL101

        class Client:
            def send(self, payload, **options):
                try:
                    return self._post(payload, **options)
                except TimeoutError:
                    return self.send(payload, **options)  # <-- BL101

            async def asend(self, payload):
                try:
                    return await self._apost(payload)
                except TimeoutError:
                    return await self.asend(payload)  # <-- BL101
    """)


def test_recursion_with_counter(tmp_path):
    check(tmp_path, """
        def checked(url, attempt=0):
            try:
                return get(url)
            except ConnectionError:
                if attempt >= 3:
                    raise
                return checked(url, attempt + 1)

        def unchecked(url, attempt=0):
            try:
                return get(url)
            except ConnectionError:
                return unchecked(url, attempt=attempt + 1)  # <-- BL101

        def once(url, retry=True):
            try:
                return get(url)
            except ConnectionError:
                if not retry:
                    raise
                return once(url, retry=False)
    """)
    (msg,) = messages(tmp_path / "m", "def f(u, n=0):\n    try:\n        return g(u)\n    except E:\n        return f(u, n + 1)\n")
    assert "`n`" in msg and "never checking" in msg


def test_recursion_bounded_by_a_one_shot_flag(tmp_path):
    check(tmp_path, """
        class Search:
            parse_query = True

            def run(self, key):
                try:
                    return self.execute(key)
                except SyntaxError:
                    if self.parse_query:
                        self.parse_query = False
                        return self.run(key)
                    raise
    """)


def test_recursion_on_other_arguments_is_not_a_retry(tmp_path):
    check(tmp_path, """
        def parse(value):
            try:
                return int(value)
            except ValueError:
                return parse(value.strip())

        def find(path):
            try:
                return path.stat()
            except OSError:
                parent = path.parent
                return find(parent)

        def render(request, error=False):
            try:
                return template(request, error)
            except LookupError:
                return render(request, error=True)

        def not_in_handler(node):
            try:
                value = node.value
            except AttributeError:
                return None
            return [not_in_handler(c) for c in node.children]
    """)


def test_recursion_that_reasks_the_user_is_not_a_retry(tmp_path):
    check(tmp_path, """
        import click

        def ask_categories(valid):
            answer = click.prompt("Categories").split(",")
            try:
                validate(answer, valid)
            except ValueError:
                answer = ask_categories(valid)
            return answer
    """)


# -- robustness -----------------------------------------------------------------------


def test_prefilter_never_changes_results(tmp_path):
    src = """
        import tenacity as tc
        @tc.retry
        def a(): ...

        def b():
            while True:
                try:
                    return get()
                except OSError:
                    pass
    """
    with_pre = lines(tmp_path / "a", src)
    without = lines(tmp_path / "b", src, prefilter=False)
    assert with_pre == without == [3, 7]


def test_deeply_nested_code_does_not_crash(tmp_path):
    depth = 48  # Python allows at most 100 indentation levels
    pad = "    "
    head, tail = ["def f():"], []
    for i in range(depth):
        level = 1 + 2 * i
        head += [pad * level + "while True:", pad * (level + 1) + "try:"]
        tail = [pad * (level + 1) + "except OSError:", pad * (level + 2) + "pass"] + tail
    head.append(pad * (2 * depth + 1) + "return get()")
    diags = lint(tmp_path, "\n".join(head + tail) + "\n", select=["BL101"])
    assert diags and all(d.code == "BL101" for d in diags)


@pytest.mark.parametrize("spelling", [
    "import tenacity\n@tenacity.retry\ndef f(): ...\n",
    "import tenacity as tc\n@tc.retry()\ndef f(): ...\n",
    "from tenacity import retry\n@retry\ndef f(): ...\n",
    "from tenacity import retry as r\n@r\ndef f(): ...\n",
    "from tenacity import Retrying\nr = Retrying()\n",
    "from tenacity.asyncio import AsyncRetrying\nr = AsyncRetrying()\n",
    "import backoff as bk\n@bk.on_exception(bk.expo, E)\ndef f(): ...\n",
    "from backoff import on_exception as oe, expo\n@oe(expo, E)\ndef f(): ...\n",
    "from retrying import retry\n@retry()\ndef f(): ...\n",
    "import requests\nr = requests.packages.urllib3.util.retry.Retry(total=None)\n",
    "from requests.packages.urllib3.util.retry import Retry\nr = Retry(None)\n",
])
def test_every_import_spelling(tmp_path, spelling):
    assert len(lines(tmp_path, spelling)) == 1


# -- the analysis under the rule: how a loop body's statements end ---------------------


def _loop_outcomes(body: str, flag_ends=None):
    """Outcomes (backendlint.analysis.retry_loops.RetryFlow) of a loop body's statements."""
    import types

    import libcst as cst

    from backendlint.analysis.retry_loops import RetryFlow
    from backendlint.engine.imports import ImportTable
    from backendlint.syntax.scopes import Scopes
    from backendlint.syntax.walk import statements

    module = cst.parse_module("import sys\nwhile True:\n" + textwrap.indent(textwrap.dedent(body), "    "))
    imports = ImportTable("example")
    imports.add_import(module.body[0].body[0])
    scopes = Scopes(types.SimpleNamespace(module=module, imports=imports))
    loop = module.body[1]
    return set(RetryFlow(scopes, [module, loop], flag_ends).outcomes(statements(loop.body)))


@pytest.mark.parametrize("body, expected", [
    ("call()\n", {"next"}),
    ("break\n", {"exit"}),
    ("return x\n", {"exit"}),
    ("raise E\n", {"raise"}),
    ("continue\n", {"continue"}),
    ("sys.exit(1)\n", {"raise"}),
    ("if ok:\n    break\n", {"next", "exit"}),
    ("if True:\n    break\n", {"next", "exit"}),  # conditions are not evaluated
    ("try:\n    return get()\nexcept E:\n    pass\n", {"exit", "next"}),
    ("try:\n    get()\nexcept E:\n    continue\nelse:\n    break\n", {"continue", "exit"}),
    ("try:\n    get()\nfinally:\n    raise E\n", {"raise"}),
    ("try:\n    break\nfinally:\n    log()\n", {"exit"}),
    # a nested loop's break and continue are its own; a return or raise anywhere in it counts
    ("for x in xs:\n    break\n", {"next"}),
    ("while True:\n    if x:\n        return x\n", {"next", "exit"}),
    ("for x in xs:\n    try:\n        raise E\n    except E:\n        pass\n", {"next", "raise"}),
    ("match x:\n    case 1:\n        break\n", {"next", "exit"}),
])
def test_loop_body_outcomes(body, expected):
    assert _loop_outcomes(body) == expected


def test_flag_ending_assignment_exits_the_loop():
    def ends(stmt):
        return isinstance(stmt, __import__("libcst").Assign) and stmt.targets[0].target.value == "running"

    assert _loop_outcomes("running = False\n", ends) == {"exit"}
    assert _loop_outcomes("other = False\n", ends) == {"next"}


# -- issue #17: precision ------------------------------------------------------------


def test_prompt_before_the_try_is_not_a_retry(tmp_path):
    check(tmp_path, """
        def ask_port():
            while True:
                answer = input("port? ")
                try:
                    return int(answer)
                except ValueError:
                    print("not a number")
    """)


def test_confirm_in_the_handler_is_not_a_retry(tmp_path):
    check(tmp_path, """
        import click

        def deploy(target):
            while True:
                try:
                    return target.deploy()
                except RuntimeError:
                    if not click.confirm("try again?"):
                        return None
    """)


def test_prompt_through_a_project_wrapper_is_not_a_retry(tmp_path):
    check(tmp_path, """
        from getpass import getpass

        def ask_secret(label):
            return getpass(label + ": ")

        def login(client):
            while True:
                try:
                    return client.login(ask_secret("password"))
                except PermissionError:
                    print("wrong password")
    """)


def test_prompt_elsewhere_in_the_file_does_not_exempt_a_loop(tmp_path):
    check(tmp_path, """
        def ask():
            return input("? ")

        def fetch(client):
            while True:  # <-- BL101
                try:
                    return client.fetch()
                except OSError:
                    pass
    """)


def test_failover_over_a_finite_iterator_is_bounded(tmp_path):
    check(tmp_path, """
        def fetch(client, mirrors):
            urls = iter(mirrors)
            url = next(urls)
            while True:
                try:
                    return client.get(url)
                except OSError:
                    if url := next(urls, None):
                        continue
                    raise
    """)
    check(tmp_path / "b", """
        def fetch(client, mirrors):
            urls = iter(mirrors)
            url = next(urls)
            while True:
                try:
                    return client.get(url)
                except OSError:
                    url = next(urls)
    """)


def test_next_without_an_exit_on_exhaustion_is_still_a_retry(tmp_path):
    check(tmp_path, """
        def fetch(client, mirrors):
            urls = iter(mirrors)
            while True:  # <-- BL101
                try:
                    return client.get(next(urls, "default"))
                except OSError:
                    pass
    """)


def test_keyboard_interrupt_that_resumes_a_console_is_not_a_retry(tmp_path):
    check(tmp_path, """
        def repl(shell):
            while True:
                try:
                    shell.run_once()
                    return
                except KeyboardInterrupt:
                    print("use exit() to leave")
    """)
    check(tmp_path / "b", """
        def serve(loop):
            try:
                loop.run_forever()
            except KeyboardInterrupt:
                return serve(loop)
    """)


def test_keyboard_interrupt_beside_a_real_error_still_reports(tmp_path):
    check(tmp_path, """
        def fetch(client):
            while True:  # <-- BL101
                try:
                    return client.fetch()
                except KeyboardInterrupt:
                    pass
                except OSError:
                    pass
    """)


def test_recursion_on_a_loop_variable_drawn_from_a_parameter_is_not_a_retry(tmp_path):
    check(tmp_path, """
        class Importer:
            def handle(self, payload):
                try:
                    return self.store(payload["id"])
                except KeyError:
                    for item in payload["items"]:
                        self.handle(item)
    """)


def test_recursion_omitting_an_optional_argument_that_switches_branch(tmp_path):
    check(tmp_path, """
        def send(message, conn=None):
            if conn is None:
                conn = open_connection()
            try:
                return conn.send(message)
            except OSError:
                return send(message)
    """)


def test_recursion_message_does_not_claim_same_arguments_for_a_fresh_value(tmp_path):
    src = """
        def call(api, token):
            try:
                return api.get(token)
            except PermissionError:
                token = refresh()
                return call(api, token)
    """
    (msg,) = messages(tmp_path, textwrap.dedent(src))
    assert "same arguments" not in msg and "`token`" in msg and "PermissionError" in msg


def test_loop_message_names_the_operation_and_the_exception(tmp_path):
    src = """
        def wait_for(Order, pk):
            while True:
                try:
                    return Order.objects.get(pk=pk)
                except Order.DoesNotExist:
                    pass
    """
    (msg,) = messages(tmp_path, textwrap.dedent(src))
    assert "`Order.objects.get(...)`" in msg and "`Order.DoesNotExist`" in msg
    src2 = """
        import fcntl

        def lock(fd):
            while True:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX)
                    return
                except (OSError, ValueError):
                    pass
    """
    (msg2,) = messages(tmp_path / "b", textwrap.dedent(src2))
    assert "`fcntl.lockf(...)`" in msg2 and "`OSError`, `ValueError`" in msg2


def test_recursion_message_names_the_exception(tmp_path):
    (msg,) = messages(tmp_path, "def f(u):\n    try:\n        return g(u)\n    except LookupError:\n        return f(u)\n")
    assert "`LookupError`" in msg and "with the same arguments" in msg



def test_a_name_imported_inside_the_function_is_not_a_self_call(tmp_path):
    check(tmp_path, """
        def entry_points(group):
            try:
                from importlib.metadata import entry_points
            except ImportError:
                from importlib_metadata import entry_points
                return entry_points(group=group)
            return entry_points(group=group)
    """)
