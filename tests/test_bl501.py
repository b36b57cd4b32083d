"""BL501 missing-timeout: outbound calls that can block forever.

Sources mark each line that must be reported with ``# !<severity>`` at its end; every
other line must stay quiet.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from helpers import lint

MARK = re.compile(r"#\s*!(high|medium|low)\b")


def expected(files):
    out = []
    for name, source in files.items():
        for number, line in enumerate(textwrap.dedent(source).splitlines(), start=1):
            m = MARK.search(line)
            if m:
                out.append((name, number, m.group(1)))
    return sorted(out)


def diags(tmp_path, files, options=None, prefilter=True):
    if isinstance(files, str):
        files = {"app/client.py": files}
    tmp_path.mkdir(parents=True, exist_ok=True)
    return lint(tmp_path, files, select=["BL501"], rule_options={"missing-timeout": options} if options else None,
                prefilter=prefilter)


def check(tmp_path, files, options=None):
    """The marked lines, and only them, with their severities (with and without the prefilter)."""
    if isinstance(files, str):
        files = {"app/client.py": files}
    for prefilter in (True, False):
        got = sorted((d.path, d.line, d.severity) for d in diags(tmp_path / str(prefilter), files, options, prefilter))
        assert got == expected(files), f"prefilter={prefilter}"


# -- requests: functions, every import spelling -------------------------------------------


def test_requests_functions_however_imported(tmp_path):
    check(tmp_path, """\
        import requests
        import requests as rq
        from requests import get, request as http_request
        from requests import api

        def fetch(url):
            requests.get(url)  # !medium
            rq.post(url, json={})  # !medium
            get(url)  # !medium
            http_request("GET", url)  # !medium
            api.put(url, data=b"")  # !medium
            requests.patch(url, timeout=None)  # !medium
            requests.delete(url, timeout=5)
            requests.head(url, timeout=(3.05, 27))
            requests.options(url, timeout=TIMEOUT)
    """)


def test_timeouts_from_variables_settings_and_kwargs_count(tmp_path):
    check(tmp_path, """\
        import requests
        from django.conf import settings

        def fetch(url, timeout, **kwargs):
            requests.get(url, timeout=timeout)
            requests.get(url, timeout=settings.HTTP_TIMEOUT)
            requests.get(url, timeout=getattr(settings, "T", 10))
            requests.get(url, **kwargs)
            requests.request("GET", url, **{"timeout": 3})
            requests.get(*kwargs["args"])  # !medium
    """)


def test_message_names_the_call_the_hang_and_the_fix(tmp_path):
    found = diags(tmp_path, "import requests\n\ndef f(u):\n    return requests.post(u)\n")
    assert len(found) == 1
    message = found[0].message
    assert message.startswith("requests.post() has no timeout")
    assert "waits forever" in message and "timeout=(3.05, 27)" in message
    found = diags(tmp_path / "b", "import requests\n\ndef f(u):\n    return requests.post(u, timeout=None)\n")
    assert "passes timeout=None" in found[0].message


# -- requests sessions ----------------------------------------------------------------------


def test_session_in_a_variable_a_with_block_and_chained(tmp_path):
    check(tmp_path, """\
        import requests
        from requests import Session

        def fetch(url):
            s = requests.Session()
            s.get(url)  # !medium
            s.post(url, timeout=10)
            with Session() as other:
                other.put(url)  # !medium
                other.request("GET", url, None, None, None, None, None, None, 5)
            requests.Session().get(url)  # !medium
            requests.session().send(prepared)  # !medium
    """)


def test_session_held_on_self_and_at_module_level(tmp_path):
    check(tmp_path, """\
        import requests

        SESSION = requests.Session()

        class Client:
            def __init__(self, base):
                self.base = base
                self.session = requests.Session()
                self.cache = {}

            def fetch(self, path):
                self.cache.get(path)
                return self.session.get(self.base + path)  # !medium

            def fetch_bounded(self, path):
                return self.session.get(self.base + path, timeout=5)

        def ping(url):
            return SESSION.head(url)  # !medium
    """)


def test_module_level_session_imported_from_another_module(tmp_path):
    check(tmp_path, {
        "app/http.py": "import requests\n\nsession = requests.Session()\n",
        "app/jobs.py": "from app.http import session\n\ndef ping(url):\n    session.get(url)  # !medium\n",
    })


def test_project_session_subclass_and_factory(tmp_path):
    check(tmp_path, {
        "app/http.py": """\
            import requests
            from requests.adapters import HTTPAdapter

            class ApiSession(requests.Session):
                pass

            class TimeoutSession(requests.Session):
                def request(self, method, url, **kwargs):
                    kwargs.setdefault("timeout", 10)
                    return super().request(method, url, **kwargs)

            class Child(TimeoutSession):
                pass

            def make_session():
                s = requests.Session()
                s.mount("https://", HTTPAdapter(max_retries=3))
                return s

            def make_bounded_session():
                s = requests.Session()
                s.mount("https://", TimeoutAdapter(timeout=5))
                return s
        """,
        "app/use.py": """\
            from app.http import ApiSession, Child, TimeoutSession, make_bounded_session, make_session

            def fetch(url):
                ApiSession().get(url)  # !medium
                TimeoutSession().get(url)
                Child().get(url)
                s = make_session()
                s.get(url)  # !medium
                make_bounded_session().get(url)
        """,
    })


def test_third_party_sessions_are_requests_sessions(tmp_path):
    check(tmp_path, """\
        from requests_oauthlib import OAuth2Session
        from requests_cache import CachedSession

        def fetch(url, client):
            oauth = OAuth2Session(client=client)
            oauth.fetch_token(token_url=url)
            oauth.post(url, json={})  # !medium
            oauth.get(url, timeout=5)
            CachedSession("cache").get(url)  # !medium
    """)
    found = diags(tmp_path / "m", "from requests_oauthlib import OAuth2Session\n\ndef f(u):\n    OAuth2Session().get(u)\n")
    assert "on an OAuth2Session (a requests.Session subclass" in found[0].message


def test_session_given_a_timeout_where_it_is_built(tmp_path):
    check(tmp_path, """\
        import functools
        import requests

        def fetch(url):
            s = requests.Session()
            s.mount("https://", TimeoutHTTPAdapter(timeout=5))
            s.get(url)
            t = requests.Session()
            t.request = functools.partial(t.request, timeout=5)
            t.get(url)

        class Client:
            def __init__(self):
                self.session = requests.Session()
                self.session.mount("https://", TimeoutHTTPAdapter(timeout=5))
                self.other = requests.Session()
                self.other.mount("https://", HTTPAdapter(max_retries=3))

            def fetch(self, url):
                self.session.get(url)
                self.other.get(url)  # !medium
    """)


def test_lookalikes_are_not_sessions(tmp_path):
    check(tmp_path, """\
        import requests
        from django.core.cache import cache
        from django.test import TestCase

        def get(url):
            return url

        def fetch(url, session):
            get(url)
            {}.get(url)
            data = {"a": 1}
            data.get("a")
            cache.get(url)
            session.get(url)
            requests.codes.get("ok")
            return requests.get(url, timeout=3)

        class ViewTests(TestCase):
            def test_page(self):
                self.client.get("/")
                self.client.post("/", {})
    """)


def test_a_local_function_shadowing_the_import_is_not_the_api(tmp_path):
    check(tmp_path, """\
        from requests import get

        def get(url):
            return url

        def fetch(url):
            return get(url)
    """)


# -- the standard library ------------------------------------------------------------------


def test_stdlib_clients(tmp_path):
    check(tmp_path, """\
        import ftplib
        import http.client
        import imaplib
        import poplib
        import smtplib
        import socket
        import urllib.request
        from urllib.request import urlopen

        def send(url, host):
            urllib.request.urlopen(url)  # !medium
            urlopen(url, None, 10)
            urlopen(url, timeout=10)
            smtplib.SMTP(host, 25)  # !medium
            smtplib.SMTP(host, 25, None, 10)
            smtplib.SMTP_SSL(host)  # !medium
            smtplib.LMTP(host, timeout=5)
            http.client.HTTPConnection(host)  # !medium
            http.client.HTTPSConnection(host, timeout=5)
            socket.create_connection((host, 80))  # !medium
            socket.create_connection((host, 80), 5)
            ftplib.FTP(host)  # !medium
            ftp = ftplib.FTP()
            ftp.connect(host, 21, timeout=30)
            imaplib.IMAP4_SSL(host)  # !medium
            poplib.POP3(host, 110, 30)
    """)


def test_setdefaulttimeout_bounds_the_stdlib_but_not_requests(tmp_path):
    check(tmp_path, {
        "app/__init__.py": "import socket\n\nsocket.setdefaulttimeout(30)\n",
        "app/mail.py": """\
            import smtplib
            import requests
            from urllib.request import urlopen

            def send(host, url):
                smtplib.SMTP(host)
                urlopen(url)
                requests.get(url)  # !medium
        """,
    })


def test_setdefaulttimeout_in_tests_bounds_nothing(tmp_path):
    check(tmp_path, {
        "tests/conftest.py": "import socket\n\nsocket.setdefaulttimeout(1)\n",
        "app/mail.py": "import smtplib\n\ndef send(host):\n    smtplib.SMTP(host)  # !medium\n",
    })


def test_smtp_message_spells_the_fix_for_smtp(tmp_path):
    found = diags(tmp_path, "import smtplib\n\ndef f(h):\n    smtplib.SMTP(h)\n")
    assert "smtplib.SMTP()" in found[0].message and "pass timeout= to SMTP(...)" in found[0].message


# -- httpx and aiohttp ----------------------------------------------------------------------


def test_httpx_only_explicit_none_and_low(tmp_path):
    check(tmp_path, """\
        import httpx

        async def stream(url):
            httpx.get(url)
            httpx.get(url, timeout=None)  # !low
            httpx.post(url, timeout=httpx.Timeout(None))  # !low
            httpx.post(url, timeout=httpx.Timeout(None, connect=5))
            client = httpx.Client()
            client.get(url)
            client.get(url, timeout=None)  # !low
            async with httpx.AsyncClient(timeout=None) as ac:  # !low
                await ac.get(url)
            async with httpx.AsyncClient() as ac2:
                await ac2.stream("GET", url, timeout=None)  # !low
    """)


def test_aiohttp_client_timeout(tmp_path):
    check(tmp_path, """\
        import aiohttp
        from aiohttp import ClientTimeout

        async def fetch(url):
            aiohttp.ClientTimeout()  # !medium
            ClientTimeout(total=None)  # !medium
            ClientTimeout(None)  # !medium
            ClientTimeout(total=None, sock_read=30)
            ClientTimeout(total=30)
            async with aiohttp.ClientSession(timeout=None) as session:
                await session.get(url)
    """)


# -- severity ----------------------------------------------------------------------------------


def test_high_in_a_request_handler_and_its_helpers(tmp_path):
    check(tmp_path, {
        "shop/__init__.py": "",
        "shop/views.py": """\
            import requests
            import smtplib
            from django.http import JsonResponse

            from shop.services import rate

            def quote(request):
                smtplib.SMTP("mail.example.com")  # !high
                return JsonResponse({"rate": rate(), "r": requests.get("https://api.example.com").json()})  # !high
        """,
        "shop/services.py": "import requests\n\ndef rate():\n    return requests.get('https://fx.example.com')  # !high\n",
        "shop/urls.py": "from django.urls import path\nfrom shop import views\n\nurlpatterns = [path('q', views.quote)]\n",
    })
    found = diags(tmp_path / "m", {"shop/__init__.py": "", "shop/views.py": "from django.http import JsonResponse\nfrom shop.services import rate\n\ndef quote(request):\n    return JsonResponse(rate())\n",
                                   "shop/urls.py": "from django.urls import path\nfrom shop import views\n\nurlpatterns = [path('q', views.quote)]\n",
                                   "shop/services.py": "import requests\n\ndef rate():\n    return requests.get('https://fx.example.com')\n"})
    assert "called from quote()" in found[0].why


def test_blocking_client_in_async_def_freezes_the_event_loop(tmp_path):
    check(tmp_path, """\
        import asyncio
        import requests
        import smtplib

        async def notify(url):
            requests.post(url)  # !high
            smtplib.SMTP("mail.example.com")  # !high
            await asyncio.to_thread(requests.post, url, timeout=5)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, lambda: requests.post(url))  # !medium

            def in_a_thread():
                return requests.post(url)  # !medium
            return in_a_thread
    """)
    found = diags(tmp_path / "m", "import requests\n\nasync def f(u):\n    requests.get(u)\n")
    assert "freezes the event loop" in found[0].message


def test_tasks_high_for_user_configured_urls(tmp_path):
    check(tmp_path, """\
        import requests
        from celery import shared_task

        from app.models import Webhook

        @shared_task
        def deliver(webhook_id, payload):
            hook = Webhook.objects.get(pk=webhook_id)
            requests.post(hook.target, json=payload)  # !high
            requests.post(payload["callback_url"])  # !high
            requests.post("https://status.example.com/ping")  # !medium
            requests.post(settings.STATUS_URL)  # !medium
            endpoint = Endpoint.objects.get(pk=1)
            requests.get(endpoint.base_url + "/ping")  # !high
            response = requests.get("https://api.example.com/page/1", timeout=5)
            requests.get(response.next_url)  # !medium
            requests.get(endpoint.name)  # !medium
    """)


def test_low_for_localhost_and_known_caps(tmp_path):
    check(tmp_path, """\
        import asyncio
        import aiohttp
        import httpx
        import requests
        from celery import shared_task

        def views_helper():
            requests.get("http://localhost:8080/health")  # !low
            requests.get("http://127.0.0.1/x")  # !low
            requests.get(f"http://localhost:{PORT}/x")  # !low
            requests.get("http://localhost.example.com/x")  # !medium

        @shared_task(soft_time_limit=60)
        def refresh(url):
            requests.get(url)  # !low

        @shared_task
        def refresh_uncapped(url):
            requests.get(url)  # !medium

        async def bounded(client, url):
            async with httpx.AsyncClient(timeout=None) as c:  # !low
                await asyncio.wait_for(c.get(url), 10)
            await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, lambda: requests.get(url)), 10)  # !low

        async def bounded_block(url):
            async with asyncio.timeout(30):
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout()) as s:  # !low
                    await s.get(url)
            aiohttp.ClientTimeout()  # !medium
    """)


def test_global_celery_time_limit_caps_tasks_and_their_helpers(tmp_path):
    check(tmp_path, {
        "proj/settings.py": "CELERY_TASK_TIME_LIMIT = 300\n",
        "app/tasks.py": """\
            import requests
            from celery import shared_task

            def helper(url):
                requests.get(url)  # !low

            @shared_task
            def refresh(url):
                helper(url)
        """,
    })


def test_capped_task_caps_its_helpers(tmp_path):
    check(tmp_path, {
        "app/tasks.py": """\
            import requests
            from celery import shared_task

            def helper(url):
                requests.get(url)  # !low

            @shared_task(time_limit=120)
            def refresh(url):
                helper(url)
        """,
    })


def test_operator_and_test_code_are_low(tmp_path):
    check(tmp_path, {
        "app/management/commands/sync.py": """\
            import requests
            from django.core.management.base import BaseCommand

            class Command(BaseCommand):
                def handle(self, *args, **options):
                    requests.get("https://api.example.com")  # !low
        """,
        "scripts/fetch.py": "import requests\n\nif __name__ == '__main__':\n    requests.get('https://x.example.com')  # !low\n",
        "tests/test_client.py": "import requests\n\ndef test_live():\n    requests.get('https://x.example.com')  # !low\n",
    })


def test_operator_context_beats_async_def(tmp_path):
    check(tmp_path, {"scripts/probe.py": "import requests\n\nasync def main(u):\n    requests.get(u)  # !low\n"})


# -- options ---------------------------------------------------------------------------------


def test_extra_clients(tmp_path):
    files = {
        "app/http.py": "import requests\n\ndef call_api(path, timeout=None):\n    return requests.get(path, timeout=timeout or 5)\n",
        "app/use.py": """\
            from app.http import call_api

            def sync():
                call_api("/a")  # !medium
                call_api("/a", timeout=3)
                call_api("/a", timeout=None)  # !medium
        """,
    }
    check(tmp_path, files, {"extra-clients": ["app.http.call_api"]})
    check(tmp_path / "by-name", files, {"extra-clients": ["call_api"]})
    plain = {name: re.sub(r"\s*# !\w+", "", source) for name, source in files.items()}
    assert diags(tmp_path / "none", plain) == []
