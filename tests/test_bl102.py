"""BL102 retry-without-backoff: focused cases."""

from __future__ import annotations

import textwrap

from helpers import lint


def found(tmp_path, source, name="app/remote.py"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return [(d.line, d.severity) for d in lint(tmp_path, {name: textwrap.dedent(source)}, select=["BL102"])]


def marked(source):
    return [i for i, line in enumerate(textwrap.dedent(source).splitlines(), 1) if "# <-- BL102" in line]


def check(tmp_path, source):
    assert [line for line, _ in found(tmp_path, source)] == marked(source)


def test_tenacity_without_wait_and_with_wait_none(tmp_path):
    check(tmp_path, """
        from tenacity import Retrying, retry, stop_after_attempt, wait_fixed, wait_none

        @retry(stop=stop_after_attempt(3))  # <-- BL102
        def a(): ...

        @retry(stop=stop_after_attempt(3), wait=wait_none())  # <-- BL102
        def b(): ...

        @retry(stop=stop_after_attempt(3), wait=wait_fixed(2))
        def c(): ...

        def d(**kw):
            return Retrying(**kw)
    """)


def test_retrying_needs_a_wait_argument(tmp_path):
    check(tmp_path, """
        from retrying import retry

        @retry(stop_max_attempt_number=3)  # <-- BL102
        def a(): ...

        @retry(stop_max_attempt_number=3, wait_fixed=2000)
        def b(): ...
    """)


def test_backoff_always_waits(tmp_path):
    check(tmp_path, """
        import backoff

        @backoff.on_exception(backoff.expo, OSError, max_tries=3)
        def a(): ...
    """)


def test_range_and_while_loops_without_a_wait(tmp_path):
    check(tmp_path, """
        def a(client):
            for attempt in range(3):  # <-- BL102
                try:
                    return client.fetch()
                except OSError:
                    pass

        def b(client):
            while True:  # <-- BL102
                try:
                    return client.fetch()
                except OSError:
                    continue
    """)


def test_loops_that_wait_are_fine(tmp_path):
    check(tmp_path, """
        import asyncio
        import time

        def a(client):
            for attempt in range(3):
                try:
                    return client.fetch()
                except OSError:
                    time.sleep(attempt)

        async def b(client):
            while True:
                try:
                    return await client.fetch()
                except OSError:
                    await asyncio.sleep(1)

        def c(client, stop):
            while True:
                try:
                    return client.fetch()
                except OSError:
                    stop.wait(5)

        class R:
            def _backoff(self, n):
                time.sleep(n)

            def run(self, client):
                for n in range(3):
                    try:
                        return client.fetch()
                    except OSError:
                        self._backoff(n)
    """)


def test_wait_for_is_not_a_wait_between_attempts(tmp_path):
    check(tmp_path, """
        import asyncio

        async def a(client):
            for attempt in range(3):  # <-- BL102
                try:
                    return await asyncio.wait_for(client.fetch(), 5)
                except asyncio.TimeoutError:
                    pass
    """)


def test_loops_that_are_not_retries(tmp_path):
    check(tmp_path, """
        def process(items):
            for i in range(len(items)):
                try:
                    items[i].run()
                except ValueError:
                    pass

        def ask():
            for attempt in range(3):
                try:
                    return int(input("n? "))
                except ValueError:
                    pass
    """)


def test_severity_medium_and_low_in_a_script(tmp_path):
    src = """
        def a(client):
            for attempt in range(3):
                try:
                    return client.fetch()
                except OSError:
                    pass
    """
    assert found(tmp_path / "lib", src) == [(3, "medium")]
    assert found(tmp_path / "ops", src, name="scripts/sync.py") == [(3, "low")]


def test_message_names_call_and_exception(tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (msg,) = [d.message for d in lint(tmp_path, textwrap.dedent("""
        def a(client):
            for attempt in range(3):
                try:
                    return client.fetch()
                except OSError:
                    pass
    """), select=["BL102"])]
    assert "`client.fetch(...)`" in msg and "`OSError`" in msg and "no wait" in msg
