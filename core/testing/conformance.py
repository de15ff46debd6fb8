"""The provider conformance kit: videoprovider's contract, as tests your provider package runs.

Subclass `ProviderConformance` in your own test suite, name your provider and say how to
reach your service offline; pytest then runs every check below against it:

    import pytest
    from videoprovider.testing.conformance import ProviderConformance

    class TestAcmeConformance(ProviderConformance):
        provider = "acme"                       # your entry point name

        @pytest.fixture
        def conformance_settings(self, acme_server):
            return {"api_key": "sk-test-acme-conformance", "base_url": acme_server.url}

Override the other `conformance_*` fixtures where the defaults do not fit (an httpx
`MockTransport` instead of a loopback server, a clock shared with your emulator, a task id
of your service's format). What your provider does not offer is skipped by declaration (its
`capabilities`), never by silence. docs/writing-a-provider.md explains each rule.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import SecretStr

from ..clock import Clock, VirtualClock
from ..errors import (
    RequestRejected,
    SubmitOutcomeUnknown,
    TaskCanceled,
    TaskNotReady,
    UnsupportedOperation,
    VideoProviderError,
)
from ..models import Task, TaskState, TaskStatus, VideoRequest
from ..plugins import load_provider_class
from ..provider import Declaration, Operation
from ..sync import VideoClient
from .faults import Fault, FaultTransport
from .listing_checks import ListingChecks
from .watch_checks import WatchChecks

__all__ = ["Fault", "FaultTransport", "ProviderConformance"]

_ORDER = {TaskState.PENDING: 0, TaskState.PROCESSING: 1}
# Faults after which a submit may have created a task without the client hearing of it.
LOST_REPLIES = ["drop_after_send", "500", "read_timeout"]
LONG_WAIT = 7 * 24 * 3600.0  # virtual seconds: "until it ends", on a clock that never sleeps


class ProviderConformance(ListingChecks, WatchChecks):
    """Contract tests for one provider plugin; subclass it as `Test...` to run them.

    The checks of the optional task listing come from `ListingChecks`, those of the optional
    status stream from `WatchChecks`."""

    #: The provider's entry point name in `videoprovider.providers`.
    provider: ClassVar[str] = ""
    #: False for a provider that makes no HTTP requests (the offline fake): the checks that
    #: inject network faults are then skipped, by this declaration.
    uses_http: ClassVar[bool] = True

    @staticmethod
    def is_status_request(method: str, url: str) -> bool:
        """Whether a request is a status poll (the fault checks fail polls, and treat the
        other requests as submits): a GET by default. A service polled with another method
        (Vertex AI's POST `:fetchPredictOperation`) overrides this."""
        return method == "GET"

    def _is_poll(self, request: httpx.Request) -> bool:
        return self.is_status_request(request.method, str(request.url))

    def _not_poll(self, request: httpx.Request) -> bool:
        return not self._is_poll(request)

    # -- what the author provides ---------------------------------------------------------

    @pytest.fixture
    def conformance_settings(self) -> dict[str, Any]:
        """Provider settings that reach your offline service (include your test key)."""
        return {}

    @pytest.fixture
    def conformance_clock(self) -> Clock:
        """The clock the client waits on; share it with your emulator so no test sleeps."""
        return VirtualClock()

    @pytest.fixture
    def conformance_transport(self) -> httpx.AsyncBaseTransport:
        """Where requests go under the kit's fault injector: the network by default."""
        return httpx.AsyncHTTPTransport()

    @pytest.fixture
    def conformance_request(self) -> VideoRequest:
        """A request your provider accepts and completes."""
        return VideoRequest(prompt="A cat running on the grass")

    @pytest.fixture
    def conformance_invalid_request(self) -> tuple[VideoRequest, str]:
        """A request your provider must refuse before any request, and the field to name."""
        return VideoRequest(prompt="A cat", resolution="9000P"), "resolution"

    @pytest.fixture
    def conformance_string_setting(self) -> tuple[str, tuple[str, str, str]] | None:
        """A string setting and three values it accepts (for the file, the environment and
        the arguments), to check their precedence; None picks a free string setting and
        tries "from-file", "from-env" and "from-args"."""
        return None

    @pytest.fixture
    def conformance_unknown_task_id(self) -> str:
        """A well-formed id of a task your service does not have."""
        return "00000000-0000-4000-8000-000000000000"

    # -- the kit's own plumbing ----------------------------------------------------------

    @pytest.fixture
    def kit_transport(
        self, conformance_transport: httpx.AsyncBaseTransport, conformance_clock: Clock
    ) -> FaultTransport:
        return FaultTransport(conformance_transport, conformance_clock)

    @pytest.fixture
    def kit_faults(self, kit_transport: FaultTransport) -> FaultTransport:
        """The kit's transport, for the checks that inject network faults."""
        if not self.uses_http:
            pytest.skip(f"{self.provider} declares uses_http = False")
        return kit_transport

    @pytest.fixture
    def kit_client(
        self,
        conformance_settings: dict[str, Any],
        conformance_clock: Clock,
        kit_transport: FaultTransport,
    ) -> Iterator[VideoClient]:
        assert self.provider, "set `provider` to your provider's entry point name"
        with VideoClient(
            self.provider,
            config=False,
            environ={},
            clock=conformance_clock,
            transport=kit_transport,
            # A status stream runs in real time and would race the virtual clock the checks
            # of polling count on; the stream has checks of its own (watch_checks.py).
            **{"watch_streams": 0, **conformance_settings},
        ) as client:
            yield client

    def _secrets(self, settings: dict[str, Any]) -> list[str]:
        model = load_provider_class(self.provider).Settings
        found = []
        for name, value in settings.items():
            field = model.model_fields.get(name)
            if field is not None and "SecretStr" in str(field.annotation):
                found.append(value.get_secret_value() if isinstance(value, SecretStr) else value)
        return [s for s in found if isinstance(s, str) and s]

    def _secret_fields(self) -> list[str]:
        model = load_provider_class(self.provider).Settings
        return [n for n, f in model.model_fields.items() if "SecretStr" in str(f.annotation)]

    def _submit(self, client: VideoClient, request: VideoRequest) -> Task:
        return client.submit(request)

    # -- 1. what the provider declares ---------------------------------------------------

    def test_declared_capabilities_match_the_implemented_hooks(self) -> None:
        # The loader checks the declaration against the hooks and says what disagrees.
        cls = load_provider_class(self.provider)
        assert {Operation.SUBMIT, Operation.STATUS} <= set(cls.capabilities)

    def test_every_missing_operation_has_a_reason(self) -> None:
        declared = Declaration.of(load_provider_class(self.provider), self.provider)
        reasons = declared.unsupported
        for op in (Operation.CANCEL,):
            if op not in declared.capabilities:
                assert isinstance(reasons.get(op), str) and reasons[op].strip(), (
                    f"{self.provider} does not offer {op.value} but gives no reason in "
                    f"`unsupported[Operation.{op.name}]`; users see that reason when refused."
                )

    def test_declared_attributes_are_valid(self) -> None:
        # Declaration.of names the provider and the attribute that is wrong.
        declared = Declaration.of(load_provider_class(self.provider), self.provider)
        ids = [m.id for m in declared.models]
        assert len(ids) == len(set(ids)), f"{self.provider} lists a model twice: {ids}"

    def test_secret_settings_are_secret_str(self, conformance_settings: dict[str, Any]) -> None:
        model = load_provider_class(self.provider).Settings
        for name, field in model.model_fields.items():
            if any(word in name.lower() for word in ("key", "token", "secret", "password")):
                assert "SecretStr" in str(field.annotation), (
                    f"{self.provider} setting {name!r} looks secret but is not a "
                    "pydantic.SecretStr, so it would print in reprs and `config show`."
                )

    # -- 2. tasks ------------------------------------------------------------------------

    def test_submit_returns_a_task_of_this_provider_that_round_trips(
        self, kit_client: VideoClient, conformance_request: VideoRequest
    ) -> None:
        task = self._submit(kit_client, conformance_request)
        assert isinstance(task, Task) and task.provider == self.provider and task.task_id
        assert Task.model_validate_json(task.model_dump_json()) == task
        assert task.ref == f"{self.provider}:{task.task_id}"
        # A stored reference, its JSON and a bare id all find the same task again.
        for stored in (task.ref, task.model_dump_json(), task.task_id):
            again = kit_client.status(stored)
            assert again.task_id == task.task_id and again.state is not TaskState.UNKNOWN, (
                f"{stored!r} did not find task {task.task_id}"
            )

    def test_an_unknown_task_is_unknown_not_an_exception(
        self, kit_client: VideoClient, conformance_unknown_task_id: str
    ) -> None:
        status = kit_client.status(conformance_unknown_task_id)
        assert status.state is TaskState.UNKNOWN, (
            f"status of an unknown task should be UNKNOWN, got {status.state.value}"
        )

    @pytest.mark.parametrize(
        "task_id", ["..", ".", "a/b", "a?b=1", "a#b", "a%2Fb", "a\\b", "a\nb", "a\x00b"]
    )
    def test_a_task_id_no_service_issues_is_refused_without_a_request(
        self, kit_client: VideoClient, kit_transport: FaultTransport, task_id: str
    ) -> None:
        # Hosts pass ids from their users: one must never reach another path of the API
        # (carrying the key) or break out of the URL.
        try:
            status = kit_client.status(task_id)
        except VideoProviderError:
            pass
        else:
            assert status.state is TaskState.UNKNOWN, f"{task_id!r} named a task: {status}"
        assert kit_transport.seen == [], (
            f"{self.provider} sent a request for task id {task_id!r}: "
            f"{[s.url for s in kit_transport.seen]}; check ids against what the service "
            "issues before they go into a URL"
        )

    def test_states_never_go_backwards_and_progress_stays_in_range(
        self, kit_client: VideoClient, conformance_request: VideoRequest
    ) -> None:
        seen: list[TaskStatus] = []
        task = self._submit(kit_client, conformance_request)
        final = kit_client.wait(task, timeout=LONG_WAIT, on_progress=seen.append)
        assert final.state is TaskState.COMPLETED
        ranks = [_ORDER.get(s.state, 2) for s in seen]
        assert ranks == sorted(ranks), f"states went backwards: {[s.state.value for s in seen]}"
        for status in seen:
            assert status.progress is None or 0 <= status.progress <= 100, status

    def test_url_before_completion_is_not_ready_and_after_it_downloads(
        self, kit_client: VideoClient, conformance_request: VideoRequest, tmp_path: Path
    ) -> None:
        task = self._submit(kit_client, conformance_request)
        if Operation.URL in kit_client.capabilities:
            with pytest.raises(TaskNotReady):
                kit_client.url(task)
        kit_client.wait(task, timeout=LONG_WAIT)
        saved = kit_client.download(task, tmp_path / "video.mp4")
        assert saved.stat().st_size > 0

    def test_cancel_ends_in_canceled_or_is_refused_unsent(
        self,
        conformance_settings: dict[str, Any],
        conformance_clock: Clock,
        kit_transport: FaultTransport,
        conformance_request: VideoRequest,
        tmp_path: Path,
    ) -> None:
        with VideoClient(
            self.provider,
            config=False,
            environ={},
            clock=conformance_clock,
            transport=kit_transport,
            journal=tmp_path / "journal.sqlite3",
            **conformance_settings,
        ) as client:
            self._check_cancel(client, kit_transport, conformance_request)

    def _check_cancel(
        self, kit_client: VideoClient, kit_transport: FaultTransport, request: VideoRequest
    ) -> None:
        task = self._submit(kit_client, request)
        before = len(kit_transport.seen)
        if Operation.CANCEL not in kit_client.capabilities:
            with pytest.raises(UnsupportedOperation) as info:
                kit_client.cancel(task)
            declared = Declaration.of(load_provider_class(self.provider), self.provider)
            reason = declared.unsupported[Operation.CANCEL]
            assert reason in str(info.value)
            assert len(kit_transport.seen) == before, "a refused cancel sent a request"
            return
        status = kit_client.cancel(task)
        if status.state is not TaskState.CANCELED:
            with pytest.raises(TaskCanceled):
                kit_client.wait(task, timeout=LONG_WAIT)
        assert kit_client.journal is not None
        entry = kit_client.journal.get(task.task_id)
        assert entry is not None and entry.state is TaskState.CANCELED, (
            f"the journal should record the cancel as CANCELED, it has {entry}"
        )

    def test_an_invalid_request_is_refused_before_the_network(
        self,
        kit_client: VideoClient,
        kit_transport: FaultTransport,
        conformance_invalid_request: tuple[VideoRequest, str],
    ) -> None:
        request, field = conformance_invalid_request
        with pytest.raises(RequestRejected) as info:
            kit_client.submit(request)
        assert info.value.field == field, (
            f"the refusal should carry field={field!r}, it has field={info.value.field!r}: "
            f"raise RequestRejected(..., field={field!r}) so a host can point at the field "
            f"({info.value})"
        )
        sent = [s for s in kit_transport.seen if s.method != "GET"]
        assert not sent, f"an invalid request was sent: {sent}"

    # -- 3. secrets ----------------------------------------------------------------------

    def test_the_key_never_appears_in_reprs_errors_logs_or_cli_output(
        self,
        kit_client: VideoClient,
        kit_transport: FaultTransport,
        conformance_settings: dict[str, Any],
        conformance_unknown_task_id: str,
        conformance_request: VideoRequest,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        secrets = self._secrets(conformance_settings)
        declared = self._secret_fields()
        if not declared:
            pytest.skip(f"{self.provider} declares no SecretStr setting: it holds no key")
        assert secrets, (
            f"{self.provider} has secret settings ({', '.join(declared)}) but "
            "conformance_settings gives none of them a value, so the kit cannot check that "
            "the key never leaks: return a fake one there (e.g. 'sk-test-...')"
        )
        texts = [repr(kit_client), str(kit_client.settings_report())]
        caplog.set_level(logging.DEBUG)
        kit_client.status(conformance_unknown_task_id)
        faults: list[Fault] = []
        if self.uses_http:
            faults = [Fault("500", self._not_poll), Fault("500", self._is_poll, count=100)]
        for fault in faults:
            kit_transport.fail(fault)
        for call in (
            lambda: kit_client.submit(conformance_request),
            lambda: kit_client.status(conformance_unknown_task_id),
            lambda: kit_client.download("not-a-task", "/nonexistent-dir/x.mp4"),
        ):
            try:
                call()
            except VideoProviderError as exc:
                texts += [str(exc), repr(exc), str(getattr(exc, "hint", ""))]
        texts += [record.getMessage() for record in caplog.records]
        texts.append(self._cli_config_show(conformance_settings, monkeypatch))
        for secret in secrets:
            leaks = [text for text in texts if secret in text]
            assert not leaks, f"the {self.provider} key leaked into: {leaks[0][:300]!r}"

    def _cli_config_show(self, settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
        from click.testing import CliRunner

        from ..cli import main

        env = {"VIDEOPROVIDER_PROVIDER": self.provider, "VIDEOPROVIDER_CONFIG": ""}
        for name, value in settings.items():
            plain = value.get_secret_value() if isinstance(value, SecretStr) else value
            env[f"VIDEOPROVIDER_{self.provider.upper()}_{name.upper()}"] = str(plain)
        result = CliRunner().invoke(main, ["config", "show"], env=env)
        return result.output

    # -- 4. faults -----------------------------------------------------------------------

    def _submit_key(self) -> str | None:
        return Declaration.of(load_provider_class(self.provider)).recoverable_submits

    @pytest.mark.parametrize("kind", LOST_REPLIES)
    def test_a_submit_that_may_have_landed_is_never_resent(
        self,
        kind: Any,
        kit_client: VideoClient,
        kit_faults: FaultTransport,
        conformance_request: VideoRequest,
    ) -> None:
        if self._submit_key():
            pytest.skip(f"{self.provider} declares recoverable_submits: the next check applies")
        kit_faults.fail(Fault(kind, self._not_poll))
        outcome: SubmitOutcomeUnknown | None = None
        try:
            kit_client.submit(conformance_request)
        except SubmitOutcomeUnknown as exc:
            outcome = exc
        sent = [s for s in kit_faults.reached_server() if s.method != "GET"]
        assert sent, (
            f"{self.provider} sent its submit around the kit's transport: build your HTTP "
            "client with `context.transport` when it is set."
        )
        assert len(sent) == 1, (
            f"after a {kind} the submit was sent {len(sent)} times; a submit that may have "
            "created a task must raise SubmitOutcomeUnknown, never be resent"
        )
        assert outcome is not None, (
            f"after a {kind} the submit returned a task; it must raise SubmitOutcomeUnknown"
        )
        assert outcome.request is not None, "SubmitOutcomeUnknown must carry the request"
        assert outcome.request.prompt == conformance_request.prompt

    @pytest.mark.parametrize("kind", LOST_REPLIES)
    def test_a_recoverable_submit_whose_reply_was_lost_creates_one_task(
        self,
        kind: Any,
        kit_client: VideoClient,
        kit_faults: FaultTransport,
        conformance_request: VideoRequest,
    ) -> None:
        key = self._submit_key()
        if not key:
            pytest.skip(f"{self.provider} does not declare recoverable_submits")
        kit_faults.fail(Fault(kind, self._not_poll))
        try:
            task = kit_client.submit(conformance_request)
        except SubmitOutcomeUnknown as exc:
            assert exc.request is not None and exc.request.extra.get(key), (
                "SubmitOutcomeUnknown must carry the request with its client-chosen id"
            )
            return
        creates = [s for s in kit_faults.seen if s.method != "GET"]
        # The injected 500 never reached the server; the others did, and acted on it.
        acted = [s for s in creates if s.fault in (None, "drop_after_send", "read_timeout")]
        assert len(acted) == 1, (
            f"after a {kind} the server received {len(acted)} creates; find the task by its "
            "client-chosen id and resend only when the service has no such task"
        )
        assert len({s.body for s in creates}) == 1, "a resent create must be the same request"
        assert task.request is not None and task.request.extra.get(key)
        assert kit_client.wait(task, timeout=LONG_WAIT).state is TaskState.COMPLETED

    def test_status_faults_are_survived_and_retry_after_is_honoured(
        self,
        kit_client: VideoClient,
        kit_faults: FaultTransport,
        conformance_request: VideoRequest,
    ) -> None:
        task = self._submit(kit_client, conformance_request)
        for fault in (
            Fault("429", self._is_poll, retry_after=30.0),
            Fault("500", self._is_poll),
            Fault("malformed", self._is_poll),
        ):
            kit_faults.fail(fault)
        assert kit_client.wait(task, timeout=LONG_WAIT).state is TaskState.COMPLETED
        polls = [s for s in kit_faults.seen if self.is_status_request(s.method, s.url)]
        throttled = next(i for i, s in enumerate(polls) if s.fault == "429")
        if throttled + 1 < len(polls):
            gap = polls[throttled + 1].at - polls[throttled].at
            assert gap >= 30.0 - 1e-6, (
                f"a poll followed a 429 with Retry-After: 30 after {gap:.1f} s; raise "
                "RateLimited(retry_after=...) and let the client's scheduler wait"
            )

    # -- 5. settings ---------------------------------------------------------------------

    def test_settings_load_from_arguments_environment_and_file_in_that_order(
        self,
        conformance_settings: dict[str, Any],
        conformance_string_setting: tuple[str, tuple[str, str, str]] | None,
        tmp_path: Path,
    ) -> None:
        from pydantic import ValidationError

        from ..config import load_config
        from ..errors import ConfigurationError

        cls = load_provider_class(self.provider)
        if conformance_string_setting is not None:
            name, values = conformance_string_setting
        else:
            values = ("from-file", "from-env", "from-args")
            name = next(
                (
                    n
                    for n, f in cls.Settings.model_fields.items()
                    if f.annotation in (str, str | None) and n not in conformance_settings
                ),
                "",
            )
            if not name:
                pytest.skip(
                    f"{self.provider} has no string setting that conformance_settings leaves "
                    "free; set conformance_string_setting to check precedence with one"
                )
        in_file, in_env, in_args = values
        path = tmp_path / "videoprovider.toml"
        path.write_text(f"[{self.provider}]\n{name} = {in_file!r}\n")
        env_name = f"VIDEOPROVIDER_{self.provider.upper()}_{name.upper()}"
        for env, args, expected in (
            ({}, {}, in_file),
            ({env_name: in_env}, {}, in_env),
            ({env_name: in_env}, {name: in_args}, in_args),
        ):
            config = load_config(config=path, environ=env, args={})
            try:
                settings, _ = config.resolve_provider(
                    self.provider, cls.Settings, {**conformance_settings, **args}
                )
            except (ValidationError, ConfigurationError) as exc:
                pytest.fail(
                    f"{self.provider} setting {name!r} refused the kit's test values {values}: "
                    f"{exc}. Set the conformance_string_setting fixture to a string setting "
                    "and three values it accepts."
                )
            assert getattr(settings, name) == expected, (env, args)
