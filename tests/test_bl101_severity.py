"""BL101 severity (catalog "Severity", row BL101): what the retry retries and where it runs."""

from __future__ import annotations

import textwrap

from helpers import lint


def found(tmp_path, files):
    if isinstance(files, str):
        files = {"app/service.py": files}
    files = {name: textwrap.dedent(src) for name, src in files.items()}
    return [(d.line, d.severity, d.context, d.why) for d in lint(tmp_path, files, select=["BL101"])]


def only(tmp_path, files):
    out = found(tmp_path, files)
    assert len(out) == 1, out
    return out[0]


# -- high: I/O ------------------------------------------------------------------------


def test_loop_retrying_an_http_call_is_high(tmp_path):
    line, severity, context, why = only(tmp_path, """
        import time
        import requests

        def fetch(url):
            while True:
                try:
                    return requests.get(url, timeout=5)
                except requests.ConnectionError:
                    time.sleep(1)
    """)
    assert (line, severity, context) == (6, "high", "library")
    assert "requests.get(...)" in why


def test_loop_retrying_an_orm_query_is_high(tmp_path):
    _line, severity, _context, why = only(tmp_path, """
        def wait_for(Order, pk):
            while True:
                try:
                    return Order.objects.get(pk=pk)
                except Order.DoesNotExist:
                    pass
    """)
    assert severity == "high" and "Order.objects.get(...)" in why


def test_io_through_a_project_helper_of_the_same_file_is_high(tmp_path):
    _line, severity, _context, why = only(tmp_path, """
        import socket

        def _open(host):
            return socket.create_connection((host, 25))

        def connect(host):
            while True:
                try:
                    return _open(host)
                except OSError:
                    continue
    """)
    assert severity == "high" and "_open(...)" in why


def test_method_helper_with_a_cursor_is_high(tmp_path):
    _line, severity, _context, _why = only(tmp_path, """
        class Store:
            def _run(self, sql):
                return self.cursor.execute(sql)

            def run(self, sql):
                while True:
                    try:
                        return self._run(sql)
                    except Exception:
                        pass
    """)
    assert severity == "high"


def test_library_decorator_on_an_http_function_is_high(tmp_path):
    _line, severity, _context, why = only(tmp_path, """
        import httpx
        from tenacity import retry

        @retry
        def ping(url):
            return httpx.post(url)
    """)
    assert severity == "high" and "httpx.post(...)" in why


def test_celery_task_with_io_is_high_in_task_context(tmp_path):
    _line, severity, context, _why = only(tmp_path, """
        import requests
        from celery import shared_task

        @shared_task(autoretry_for=(Exception,), max_retries=None)
        def notify(url):
            requests.post(url)
    """)
    assert (severity, context) == ("high", "task")


def test_recursion_from_except_is_high_and_says_recursion_error(tmp_path):
    _line, severity, _context, why = only(tmp_path, """
        def load(key):
            try:
                return compute(key)
            except ValueError:
                return load(key)
    """)
    assert severity == "high" and "RecursionError" in why


# -- medium: no visible I/O -----------------------------------------------------------


def test_loop_retrying_a_pure_call_is_medium(tmp_path):
    _line, severity, _context, why = only(tmp_path, """
        def parse(reader):
            while True:
                try:
                    return reader.parse_next()
                except ValueError:
                    pass
    """)
    assert severity == "medium" and "no visible I/O" in why


def test_dict_get_is_not_io(tmp_path):
    _line, severity, _context, _why = only(tmp_path, """
        def pick(options):
            while True:
                try:
                    return options.get("a")["b"]
                except KeyError:
                    pass
    """)
    assert severity == "medium"


# -- low ------------------------------------------------------------------------------


def test_reconnect_loop_gated_on_a_running_flag_is_low(tmp_path):
    _line, severity, _context, why = only(tmp_path, """
        import time
        import websockets

        class Listener:
            def start(self):
                self.running = True

            async def listen(self, url):
                while self.running:
                    try:
                        await websockets.connect(url)
                        break
                    except OSError:
                        time.sleep(5)
    """)
    assert severity == "low" and "self.running" in why


def test_loop_that_breaks_on_a_stop_event_is_low(tmp_path):
    _line, severity, _context, why = only(tmp_path, """
        import time
        import requests

        def subscribe(url, stop):
            while True:
                if stop.is_set():
                    break
                try:
                    return requests.get(url, stream=True)
                except requests.RequestException:
                    time.sleep(1)
    """)
    assert severity == "low" and "is_set" in why


def test_optimistic_runtime_error_retry_is_low(tmp_path):
    _line, severity, _context, why = only(tmp_path, """
        def snapshot(shared):
            while True:
                try:
                    return dict(shared)
                except RuntimeError:
                    continue
    """)
    assert severity == "low" and "optimistic" in why


def test_non_blocking_lock_wait_with_sleep_is_low(tmp_path):
    _line, severity, _context, why = only(tmp_path, """
        import fcntl
        import time

        def lock(fd):
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    time.sleep(0.1)
    """)
    assert severity == "low" and "lock wait" in why


def test_io_retry_in_a_script_is_low_by_precedence(tmp_path):
    _line, severity, context, _why = only(tmp_path, {"scripts/sync.py": """
        import requests

        def main():
            while True:
                try:
                    return requests.get("https://example.com")
                except requests.RequestException:
                    pass
    """})
    assert (severity, context) == ("low", "operator")


def test_recursion_in_a_test_is_low(tmp_path):
    _line, severity, context, _why = only(tmp_path, {"tests/test_x.py": """
        def helper(key):
            try:
                return compute(key)
            except ValueError:
                return helper(key)
    """})
    assert (severity, context) == ("low", "test")


def test_view_context_is_named(tmp_path):
    files = {
        "shop/__init__.py": "",
        "shop/urls.py": """
            from django.urls import path
            from shop import views

            urlpatterns = [path("checkout/", views.checkout)]
        """,
        "shop/views.py": """
            from django.http import JsonResponse
            from shop.remote import fetch

            def checkout(request):
                return JsonResponse(fetch("x"))
        """,
        "shop/remote.py": """
            import requests

            def fetch(url):
                while True:
                    try:
                        return requests.get(url).json()
                    except ValueError:
                        pass
        """,
    }
    _line, severity, context, why = only(tmp_path, files)
    assert (severity, context) == ("high", "request")
    assert "checkout()" in why


def test_lock_attempt_gated_on_a_cancel_flag_reads_as_a_lock_wait(tmp_path):
    _line, severity, _context, why = only(tmp_path, """
        class Lock:
            def _try_lock(self):
                ...

            def acquire(self, cancel_check):
                while True:
                    if cancel_check():
                        break
                    try:
                        return self._try_lock()
                    except TimeoutError:
                        pass
    """)
    assert severity == "low" and "cancellable lock wait (`cancel_check`)" in why


def test_msvcrt_non_blocking_lock_with_sleep_is_low(tmp_path):
    _line, severity, _context, why = only(tmp_path, """
        import msvcrt
        import time

        def lock(fd):
            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                    return
                except OSError:
                    time.sleep(0.1)
    """)
    assert severity == "low" and why.endswith("cancellable lock wait")


def test_tls_handshake_is_io(tmp_path):
    _line, severity, _context, _why = only(tmp_path, """
        def handshake(cnx):
            while True:
                try:
                    return cnx.do_handshake()
                except OSError:
                    pass
    """)
    assert severity == "high"
