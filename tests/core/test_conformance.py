"""The conformance kit itself: a correct provider passes it, and broken ones fail it loudly.

Each provider is installed as a throwaway distribution with an entry point, exactly as a
third-party plugin would be, and the kit runs against it in a nested pytest (pytester).
"""

import textwrap

import pytest

# Imported here, outside the nested runs, so every nested run shares these modules (and
# their classes) instead of re-importing them: pytester drops modules a run imported.
import videoprovider.cli
import videoprovider.testing.conformance  # noqa: F401
from videoprovider.testing.faults import Fault, FaultTransport

REFERENCE = '''
import re
from datetime import datetime

import httpx
from pydantic import Field, SecretStr

from videoprovider.plugin import (
    Operation, ProviderSettings, Task, TaskPage, TaskState, TaskStatus, hookimpl,
)
from videoprovider.errors import (
    ConfigurationError, ProviderUnavailable, RateLimited, RequestRejected, SubmitOutcomeUnknown,
)

VIDEO = b"\\0\\0\\0\\x18ftypisom" + b"\\0" * 64


class Settings(ProviderSettings):
    api_key: SecretStr = SecretStr("")
    base_url: str = "http://ref.invalid"   # never resolved: the kit's tests pass a mock


def service(clock):
    """The offline service: a task completes 10 s (on `clock`) after it was created; the
    listing serves two tasks a page, newest first."""
    tasks = {}

    def state_of(task):
        if task["canceled"]:
            return "CANCELED"
        return "COMPLETED" if clock.monotonic() - task["created"] >= 10 else "PROCESSING"

    def listing(request):
        number = request.url.params.get("page", "")
        if not number.isdigit():
            return httpx.Response(400, json={"error": "no such page"})
        newest = sorted(tasks, key=lambda t: int(t[4:]), reverse=True)
        chosen = newest[(int(number) - 1) * 2 : int(number) * 2]
        rows = [{"id": t, "state": state_of(tasks[t]), "at": tasks[t]["at"]} for t in chosen]
        following = str(int(number) + 1) if len(newest) > int(number) * 2 else None
        return httpx.Response(200, json={"tasks": rows, "next": following})

    def handle(request):
        path = request.url.path
        if request.method == "POST" and path == "/tasks":
            task_id = f"ref-{len(tasks) + 1}"
            tasks[task_id] = {
                "created": clock.monotonic(), "at": clock.now().isoformat(), "canceled": False,
            }
            return httpx.Response(200, json={"id": task_id})
        if request.method == "GET" and path == "/tasks":
            return listing(request)
        task_id = path.split("/")[2]
        if task_id not in tasks:
            return httpx.Response(404, json={"error": "no such task"})
        task = tasks[task_id]
        if request.method == "POST" and path.endswith("/cancel"):
            task["canceled"] = True
        state = state_of(task)
        if state == "COMPLETED":
            return httpx.Response(
                200, json={"state": state, "url": f"http://ref.video/{task_id}.mp4"}
            )
        return httpx.Response(200, json={"state": state})

    return httpx.MockTransport(handle)


class Ref:
    capabilities = frozenset({Operation.SUBMIT, Operation.STATUS, Operation.CANCEL})
    Settings = Settings

    def __init__(self, settings, context):
        self.key = settings.api_key.get_secret_value()
        self.name = context.name
        self.http = httpx.AsyncClient(
            base_url=settings.base_url,
            transport=context.transport,
            headers={"Authorization": f"Bearer {self.key}"},
        )

    @hookimpl
    async def videoprovider_submit(self, request):
        if request.resolution not in (None, "720P"):
            raise RequestRejected(
                f"resolution {request.resolution!r} is not offered; use 720P.", field="resolution"
            )
        try:
            reply = await self.http.post("/tasks", json={"prompt": request.prompt})
        except httpx.ConnectError as exc:
            raise ProviderUnavailable("no connection; nothing was sent") from exc
        except httpx.HTTPError as exc:
            raise SubmitOutcomeUnknown("no reply; not resent", request=request) from exc
        if reply.status_code >= 500:
            raise SubmitOutcomeUnknown("the service failed after receiving it", request=request)
        return Task(provider=self.name, task_id=reply.json()["id"], request=request)

    async def _task(self, method, task_id, path=""):
        if not re.fullmatch(r"ref-[0-9]+", task_id):  # only ids this service issues
            return TaskStatus(provider=self.name, task_id=task_id, state=TaskState.UNKNOWN)
        try:
            reply = await self.http.request(method, f"/tasks/{task_id}{path}")
        except httpx.HTTPError as exc:
            raise ProviderUnavailable("the service did not answer") from exc
        if reply.status_code == 429:
            raise RateLimited("throttled", retry_after=float(reply.headers["retry-after"]))
        if reply.status_code >= 500:
            raise ProviderUnavailable(f"the service failed (HTTP {reply.status_code})")
        if reply.status_code == 404:
            return TaskStatus(provider=self.name, task_id=task_id, state=TaskState.UNKNOWN)
        try:
            data = reply.json()
        except ValueError as exc:
            raise ProviderUnavailable("the service answered garbage") from exc
        return TaskStatus(
            provider=self.name, task_id=task_id, state=TaskState(data["state"]),
            video_url=data.get("url"),
        )

    @hookimpl
    async def videoprovider_status(self, task_id):
        return await self._task("GET", task_id)

    @hookimpl
    async def videoprovider_cancel(self, task_id):
        return await self._task("POST", task_id, "/cancel")

    @hookimpl
    async def videoprovider_list_tasks(self, since, until, model, finished, page):
        if page is not None and not re.fullmatch(r"[1-9][0-9]{0,3}", page):
            raise ConfigurationError(f"{page[:40]!r} is not a ref page token; pass next_page")
        try:
            reply = await self.http.get("/tasks", params={"page": page or "1"})
        except httpx.HTTPError as exc:
            raise ProviderUnavailable("the service did not answer") from exc
        if reply.status_code != 200:
            raise ProviderUnavailable(f"the listing failed (HTTP {reply.status_code})")
        data = reply.json()
        rows = [
            TaskStatus(
                provider=self.name, task_id=row["id"], state=TaskState(row["state"]),
                submitted_at=datetime.fromisoformat(row["at"]),
            )
            for row in data["tasks"]
        ]
        in_window = [r for r in rows if since <= r.submitted_at < until]
        return TaskPage(statuses=in_window, next_page=data["next"])

    @hookimpl
    def videoprovider_http_mounts(self):
        video = httpx.MockTransport(lambda r: httpx.Response(200, content=VIDEO))
        return {"http://ref.video": video}

    @hookimpl
    async def videoprovider_aclose(self):
        await self.http.aclose()
'''

KIT_TESTS = """
import pytest
import ref_video
from videoprovider.testing.conformance import ProviderConformance


class TestRefConformance(ProviderConformance):
    provider = "ref"

    @pytest.fixture
    def conformance_settings(self):
        return {"api_key": "sk-test-ref-conformance-0123"}

    @pytest.fixture
    def conformance_transport(self, conformance_clock):
        return ref_video.service(conformance_clock)

    @pytest.fixture
    def conformance_unknown_task_id(self):
        return "ref-404"
"""

# The reference provider with a status stream: one request brings the first status (the
# mock service cannot hold a reply open), later ones come from looking again.
STREAMING = (
    "    @hookimpl\n    def videoprovider_http_mounts(self):",
    """    status_stream = True

    @hookimpl
    async def videoprovider_watch(self, task_id):
        import anyio

        while True:
            status = await self._task("GET", task_id)
            yield status
            if status.is_terminal:
                return
            await anyio.sleep(0)

    @hookimpl
    def videoprovider_http_mounts(self):""",
)

BROKEN = {
    "resends": (
        """        if reply.status_code >= 500:
            raise SubmitOutcomeUnknown""",
        """        if reply.status_code >= 500:  # "helpfully" tries again
            reply = await self.http.post("/tasks", json={"prompt": request.prompt})
        if reply.status_code >= 500:
            raise SubmitOutcomeUnknown""",
    ),
    "leaks": (
        """raise ProviderUnavailable(f"the service failed (HTTP {reply.status_code})")""",
        """raise ProviderUnavailable(f"HTTP {reply.status_code} for key {self.key}")""",
    ),
    "fake_cancel": (
        "    @hookimpl\n    async def videoprovider_cancel(self, task_id):",
        "    async def videoprovider_cancel(self, task_id):  # not marked: no hook",
    ),
    "list_walks_every_page": (
        """        data = reply.json()
        rows = [""",
        """        data = reply.json()
        while data["next"]:  # "helpfully" fetches every page in one call
            more = (await self.http.get("/tasks", params={"page": data["next"]})).json()
            data = {"tasks": data["tasks"] + more["tasks"], "next": more["next"]}
        rows = [""",
    ),
    "list_trusts_tokens": (
        """if page is not None and not re.fullmatch(r"[1-9][0-9]{0,3}", page):""",
        """if page is not None and not page:  # sends whatever token it is given""",
    ),
    "list_says_done_early": (
        """state=TaskState(row["state"]),""",
        """state=TaskState.COMPLETED,  # the listing runs ahead of status""",
    ),
    "field_only_in_message": (
        'is not offered; use 720P.", field="resolution"',
        'is not offered; use 720P."',
    ),
    "unmapped_state": (
        'clock.monotonic() - task["created"] >= 10 else "PROCESSING"',
        'clock.monotonic() - task["created"] >= 10 else "RUNNING"',
    ),
    "settings_refuse_test_values": (
        '    base_url: str = "http://ref.invalid"',
        '    base_url: str = Field("http://ref.invalid", pattern="^https?://")',
    ),
    "no_listing": (
        "    @hookimpl\n    async def videoprovider_list_tasks(self,",
        "    async def videoprovider_list_tasks(  # not marked: no hook\n        self,",
    ),
}


def run_kit(
    pytester: pytest.Pytester, install_dist, source: str, kit: str = KIT_TESTS
) -> pytest.RunResult:
    install_dist(
        "ref-video", {"ref_video": source}, {"videoprovider.providers": {"ref": "ref_video:Ref"}}
    )
    pytester.makepyfile(test_kit=textwrap.dedent(kit))
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "-rs")


def test_a_correct_provider_passes_the_whole_kit(pytester: pytest.Pytester, install_dist) -> None:
    result = run_kit(pytester, install_dist, REFERENCE)
    result.assert_outcomes(passed=35, skipped=5)
    result.stdout.fnmatch_lines(["*ref does not declare status_stream (optional)*"])


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("resends", "*after a 500 the submit was sent 2 times*never be resent*"),
        ("leaks", "*the ref key leaked into*"),
        ("fake_cancel", "*declares cancel without implementing the hook*"),
        ("list_walks_every_page", "*made 2 requests for one page*make exactly 1 per call*"),
        ("list_trusts_tokens", "*sent a request for the page token*which it did not issue*"),
        ("list_says_done_early", "*listed task ref-* as COMPLETED but status reports PROCESSING*"),
        ("field_only_in_message", "*should carry field='resolution', it has field=None*"),
        ("unmapped_state", "*state string that is not a TaskState*map each of the service's*"),
        ("settings_refuse_test_values", "*'base_url' refused the kit's test values*"),
    ],
)
def test_a_broken_provider_fails_the_kit_saying_what_is_wrong(
    pytester: pytest.Pytester, install_dist, broken: str, message: str
) -> None:
    old, new = BROKEN[broken]
    result = run_kit(pytester, install_dist, REFERENCE.replace(old, new))
    result.stdout.fnmatch_lines([message])
    assert result.ret != 0


def test_a_provider_with_a_status_stream_runs_the_stream_checks(
    pytester: pytest.Pytester, install_dist
) -> None:
    result = run_kit(pytester, install_dist, REFERENCE.replace(*STREAMING))
    result.assert_outcomes(passed=37, skipped=3)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (
            (
                '            status = await self._task("GET", task_id)\n            yield',
                '            await self._task("GET", task_id)\n'
                '            status = await self._task("GET", task_id)\n            yield',
            ),
            "*videoprovider_watch made 2 requests to open one stream*",
        ),
        (
            ("            if status.is_terminal:\n                return", "            return"),
            "*stream of a task that ended stopped at PROCESSING*",
        ),
    ],
    ids=["opens_with_two_requests", "stops_before_the_end"],
)
def test_a_broken_status_stream_fails_the_kit_saying_what_is_wrong(
    pytester: pytest.Pytester, install_dist, broken: tuple[str, str], message: str
) -> None:
    provider = REFERENCE.replace(*STREAMING)
    assert broken[0] in provider
    result = run_kit(pytester, install_dist, provider.replace(*broken))
    result.stdout.fnmatch_lines([message])
    assert result.ret != 0


def test_a_provider_without_the_listing_hook_skips_the_listing_checks(
    pytester: pytest.Pytester, install_dist
) -> None:
    old, new = BROKEN["no_listing"]
    result = run_kit(pytester, install_dist, REFERENCE.replace(old, new))
    result.assert_outcomes(passed=25, skipped=15)
    result.stdout.fnmatch_lines(["*ref does not implement videoprovider_list_tasks (optional)*"])


@pytest.mark.anyio
async def test_the_fault_transport_records_and_injects() -> None:
    import httpx

    inner = httpx.MockTransport(lambda r: httpx.Response(200, json={}))
    transport = FaultTransport(inner)
    transport.fail(Fault("drop_after_send", lambda r: r.method == "POST"))
    async with httpx.AsyncClient(transport=transport, base_url="http://t.invalid") as http:
        assert (await http.get("/a")).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post("/b", json={"x": 1})
        assert (await http.post("/b")).status_code == 200  # the fault was used up
    assert [(s.method, s.fault) for s in transport.seen] == [
        ("GET", None),
        ("POST", "drop_after_send"),
        ("POST", None),
    ]
    assert transport.seen[1].body == b'{"x":1}'


def test_a_provider_with_a_key_cannot_pass_without_the_leak_check(
    pytester: pytest.Pytester, install_dist
) -> None:
    keyless = KIT_TESTS.replace('return {"api_key": "sk-test-ref-conformance-0123"}', "return {}")
    assert keyless != KIT_TESTS
    result = run_kit(pytester, install_dist, REFERENCE, keyless)
    result.stdout.fnmatch_lines(
        ["*ref has secret settings (api_key) but conformance_settings gives none*"]
    )
    assert result.ret != 0


def test_the_kit_skips_nothing_by_catching_errors() -> None:
    import ast
    import inspect

    import videoprovider.testing.conformance as kit
    import videoprovider.testing.listing_checks as listing

    for module in (kit, listing):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.ExceptHandler):
                caught = ast.unparse(node.type) if node.type else "everything"
                assert caught not in ("Exception", "BaseException", "everything"), (
                    f"{module.__name__} catches {caught}: a broken provider would pass"
                )
