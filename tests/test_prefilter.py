"""The rules' text prefilters: which files are parsed at all.

A file no rule admits is never parsed, so a prefilter that is too narrow loses findings
(the rule pages and corpus checks run with and without it) and one that is too wide
costs time and memory: netbox's 480 KB airport table was parsed for "Post Falls" and
"Waddington". These tests pin both sides for each rule's code-shaped tokens.
"""

from __future__ import annotations

import pytest

from backendlint.engine.checker import select_rules
from backendlint.knowledge import writes as orm
from backendlint.rules.bl101 import UnboundedRetry
from backendlint.rules.bl201 import NonIdempotentPost
from backendlint.rules.bl301_write_outside_transaction import WriteOutsideTransaction


def admitted(rule: type, source: str, options=None) -> bool:
    return select_rules([rule], source, {rule.name: options} if options else {}, None, "app/views.py") == [rule]


@pytest.mark.parametrize("source", [
    "try:\n    f()\nexcept OSError:\n    pass\n",
    "try:\n    f()\nexcept:\n    pass\n",
    "try:\n    f()\nexcept* OSError:\n    pass\n",
    "@retry\ndef f(): ...\n",
    "from tenacity import Retrying\n",
    "@shared_task(autoretry_for=(E,), max_retries=None)\ndef f(): ...\n",
    "@backoff.on_exception(backoff.expo, E)\ndef f(): ...\n",
    "adapter = HTTPAdapter(max_retries=Retry(total=None))\n",
])
def test_bl101_admits_retry_spellings_and_except_clauses(source):
    assert admitted(UnboundedRetry, source)


@pytest.mark.parametrize("source", [
    "class MyException(Exception):\n    pass\n",
    "raise ValueError('unexpected input')\n",
    "log.exception('exceptional')\n",
])
def test_bl101_skips_files_that_only_mention_exceptions(source):
    assert not admitted(UnboundedRetry, source)


@pytest.mark.parametrize("source", [
    "def post(self, request): ...\n",
    "@app.post('/orders')\nasync def f(): ...\n",
    "@app.route('/orders', methods=['GET', 'POST'])\ndef f(): ...\n",
    "@require_POST\ndef f(request): ...\n",
    "if request.method == 'POST':\n    pass\n",
    "if request.method.lower() == 'post':\n    pass\n",
    "@action(detail=True, methods=['post'])\ndef refund(self, request, pk): ...\n",
    "def on_post(self, req, resp): ...\n",
    "router.add_post('/x', handler)\n",
    "def create(self, request): ...\n",
    "def perform_create(self, serializer): ...\n",
])
def test_bl201_admits_every_post_handler_spelling(source):
    assert admitted(NonIdempotentPost, source)


@pytest.mark.parametrize("source", [
    "DATABASE = 'postgres://localhost/db'\n",
    "POSTGRES_HOST = 'db'\n",
    "ordering = ['-created']\ncreated_at = models.DateTimeField()\n",
    "AIRPORTS = [('PWA', 'PWA (Wiley Post, Oklahoma)')]\n",
    "def recreate(): ...\n",
])
def test_bl201_skips_post_and_create_inside_other_words(source):
    assert not admitted(NonIdempotentPost, source)


@pytest.mark.parametrize("method", sorted(orm.OP_METHODS))
def test_bl301_admits_a_call_of_every_operation_method(method):
    assert admitted(WriteOutsideTransaction, f"def f(x):\n    x.{method}(1)\n")


@pytest.mark.parametrize("source", [
    "Order.objects .create(total=1)\n",
    "(order\n    .save())\n",
    "(order.  # a comment between the dot and the name\n    save())\n",
    "order.\\\n    save()\n",
    "order.\\\r\n    save()\r\n",
    "session.execute(insert(t))\n",
])
def test_bl301_admits_operations_spelled_across_lines(source):
    assert admitted(WriteOutsideTransaction, source)


@pytest.mark.parametrize("source", [
    "AIRPORTS = [('WTN', 'Waddington')]\n",
    "address = form.cleaned_data['address']\n",
    "def save_model(self, request, obj, form, change): ...\n",
    "updated = True\nsettings.DEBUG\n",
    "# save and delete are discussed here\n",
    "#" * 60 + "\n" + "x. " + "#" * 60 + "\n",  # no exponential backtracking on comment runs
])
def test_bl301_skips_write_verbs_that_are_not_method_calls(source):
    assert not admitted(WriteOutsideTransaction, source)


@pytest.mark.parametrize("relpath,is_test", [
    ("shop/tests/test_views.py", True),
    ("shop/test/helpers.py", True),
    ("shop/testing/fake_app.py", True),
    ("shop/test_views.py", True),
    ("shop/views_test.py", True),
    ("shop/views_tests.py", True),
    ("shop/tests.py", True),
    ("conftest.py", True),
    ("shop\\tests\\views.py", True),
    ("shop/views.py", False),
    ("shop/contest.py", False),
    ("shop/latest/views.py", False),
    ("shop/attestation.py", False),
])
def test_rules_that_leave_tests_alone_agree_on_what_a_test_is(relpath, is_test):
    from backendlint.rules.bl401_n_plus_one import NPlusOne
    from backendlint.rules.bl402_query_in_loop import QueryInLoop

    assert [rule.skips_path(relpath) for rule in (NonIdempotentPost, WriteOutsideTransaction, NPlusOne, QueryInLoop)] == [is_test] * 4


# What each word pattern means, spelled the readable way (lookbehind first). The rules
# put the lookbehind after the literal, which lets the regex engine scan for the
# literal (20x faster on the corpus); the two spellings must admit the same files.
READABLE = [
    ("BL101", r"(?<!\w)except\b"),
    ("BL201", r"(?<![a-z])post(?![a-z])|POST(?![A-Z])|(?<![a-z])create(?![a-z])"),
    ("BL401", r"(?<![A-Za-z_])for\b"),
]


@pytest.mark.parametrize("code,readable", READABLE)
def test_word_patterns_mean_what_their_readable_spelling_says(code, readable):
    import re

    from backendlint.engine import registry

    pattern = registry.find_rule(code).prefilter_pattern()
    words = ["except", "post", "POST", "create", "for", "Post", "xcept", "exception", "forpost"]
    around = ["", " ", "x", "X", "_", "1", ".", "é", "\n", "(", "s", "S", "e"]
    for word in words:
        for before in around:
            for after in around:
                text = f"{before}{word}{after}"
                assert bool(pattern.search(text)) == bool(re.search(readable, text)), text


@pytest.mark.parametrize("source", [
    "import requests\nrequests.get(url)\n",
    "import requests as rq\n",
    "from urllib.request import urlopen\n",
    "from urllib import request\nrequest.urlopen(url)\n",
    "import smtplib\n",
    "from http.client import HTTPSConnection\n",
    "import http.client\nhttp.client.HTTPConnection(host)\n",
    "import socket\nsocket.create_connection((host, 80))\n",
    "import ftplib\n",
    "import imaplib\n",
    "import poplib\n",
    "import httpx\n",
    "from aiohttp import ClientTimeout\n",
])
def test_bl501_admits_every_client_import(source):
    from backendlint.rules.bl501_missing_timeout import MissingTimeout

    assert admitted(MissingTimeout, source)


@pytest.mark.parametrize("source", [
    "from django.http import HttpResponse, HttpResponseRedirect\n",
    "session.get(url)\n",
    "timeout = 30\n",
    "URL = 'https://example.com/api'\n",
    "from urllib.parse import urlencode\n",
    "import http.client\nstatus = http.client.OK\n",
    "class Feed(AsyncWebsocketConsumer):\n    pass\n",
    "import aiohttp\n",  # only ClientTimeout() is checked: its default session timeout is fine
])
def test_bl501_skips_files_without_a_client(source):
    from backendlint.rules.bl501_missing_timeout import MissingTimeout

    assert not admitted(MissingTimeout, source)


def test_bl501_admits_extra_clients_by_their_last_name():
    from backendlint.rules.bl501_missing_timeout import MissingTimeout

    source = "from shop.api import call_api\ncall_api('/x')\n"
    assert not admitted(MissingTimeout, source)
    assert admitted(MissingTimeout, source, {"extra-clients": ["shop.api.call_api"]})
