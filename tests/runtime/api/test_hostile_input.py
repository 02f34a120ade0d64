"""Input no backend can store is refused with a 4xx naming the field, on every backend.

A lone surrogate (``\\ud800``, valid JSON but not UTF-8), a form field whose bytes are not text in
its charset (UTF-8 unless it declares another), a NUL character (PostgreSQL refuses
it in text and JSON), JSON nested deeper than any encoder recurses and over-long ids are all
refused at the API, before anything is stored and before any model is called; huge page
numbers answer an empty page. Bodies are sent as raw JSON text: a client library would refuse
to encode a lone surrogate.
"""

from __future__ import annotations

import encodings
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agentos_runtime.storable import MAX_ID_LENGTH, MAX_JSON_DEPTH

from tests.runtime.api.harness import Served, agent_config, serve_on
from tests.runtime.workflows.configs import workflow_config
from tests.support.fake_openai import FakeOpenAIServer, Reply
from tests.support.raw_forms import FORM_KINDS, Part, form, multipart, urlencoded

SURROGATE = "\ud800"
NUL = "\x00"
HUGE_PAGE = 10**19


def raw_json(body: Any) -> dict[str, Any]:
    """Request arguments sending ``body`` as JSON with ``\\u`` escapes, lone surrogates included."""
    return {"content": json.dumps(body), "headers": {"content-type": "application/json"}}


def nested(depth: int) -> str:
    """JSON text of lists nested ``depth`` levels deep."""
    return "[" * depth + "]" * depth


def refused_at(response: httpx.Response, *loc: str | int) -> dict[str, Any]:
    """The single 422 entry of ``response``, which must point at ``loc``."""
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"] == list(loc), problem
    return dict(problem)


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, agent_config(fake_openai.base_url), tmp_path) as running:
        yield running


async def stored_session_ids(app: Served) -> list[str]:
    listed = await app.client.get("/sessions")
    assert listed.status_code == 200
    return [entry["session_id"] for entry in listed.json()["data"]]


@pytest.mark.parametrize("bad", [SURROGATE, NUL], ids=["surrogate", "nul"])
@pytest.mark.parametrize(
    ("field", "value", "loc"),
    [
        ("session_state", {"note": "{bad}"}, ("session_state", "note")),
        ("metadata", {"tags": ["ok", "{bad}"]}, ("metadata", "tags", 1)),
        ("metadata", {"{bad}": 1}, ("metadata", "{bad}")),
        ("session_name", "{bad}", ("session_name",)),
        ("session_id", "s{bad}", ("session_id",)),
        ("user_id", "u{bad}", ("user_id",)),
    ],
)
async def test_creating_a_session_with_unstorable_text_is_422_naming_the_field(
    app: Served, bad: str, field: str, value: Any, loc: tuple[str | int, ...]
) -> None:
    filled = json.loads(json.dumps(value).replace("{bad}", json.dumps(bad)[1:-1]))
    response = await app.client.post("/sessions", **raw_json({field: filled}))

    shown = tuple(part.replace("{bad}", json.dumps(bad)[1:-1]) if isinstance(part, str) else part for part in loc)
    problem = refused_at(response, "body", *shown)
    assert problem["type"] == ("string_surrogate" if bad == SURROGATE else "string_nul")
    assert await stored_session_ids(app) == []


@pytest.mark.parametrize("bad", [SURROGATE, NUL], ids=["surrogate", "nul"])
async def test_changing_a_session_with_unstorable_text_is_422_and_changes_nothing(app: Served, bad: str) -> None:
    assert (await app.client.post("/sessions", json={"session_id": "s1", "session_state": {"a": 1}})).status_code == 201

    response = await app.client.patch("/sessions/s1", **raw_json({"session_state": {"a": f"x{bad}"}}))

    refused_at(response, "body", "session_state", "a")
    assert (await app.client.get("/sessions/s1")).json()["session_state"] == {"a": 1}


@pytest.mark.parametrize("bad", [SURROGATE, NUL], ids=["surrogate", "nul"])
async def test_writing_a_memory_with_unstorable_text_is_422_and_stores_nothing(app: Served, bad: str) -> None:
    created = await app.client.post("/memories", **raw_json({"memory": f"likes {bad}", "user_id": "ana"}))
    patched = await app.client.patch("/memories/m1", **raw_json({"memory": "ok", "user_id": "ana", "topics": [bad]}))

    refused_at(created, "body", "memory")
    refused_at(patched, "body", "topics", 0)
    assert (await app.client.get("/memories")).json()["data"] == []


@pytest.mark.parametrize(
    ("path", "loc"),
    [
        ("/sessions/a%00b", ("path", "session_id")),
        ("/sessions/a%00b/runs", ("path", "session_id")),
        ("/sessions?user_id=a%00b", ("query", "user_id")),
        ("/sessions?session_name=a%00b", ("query", "session_name")),
        ("/sessions?component_id=a%00b", ("query", "component_id")),
        ("/memories/a%00b", ("path", "memory_id")),
        ("/memories?search_content=a%00b", ("query", "search_content")),
        ("/memories?topics=a%00b", ("query", "topics")),
        ("/memory_topics?user_id=a%00b", ("query", "user_id")),
        ("/eval-runs?agent_id=a%00b", ("query", "agent_id")),
        ("/agents/assistant/runs?session_id=a%00b", ("query", "session_id")),
    ],
)
async def test_a_nul_in_a_path_or_a_filter_is_422_naming_the_parameter(
    app: Served, path: str, loc: tuple[str, ...]
) -> None:
    problem = refused_at(await app.client.get(path), *loc)
    assert problem["type"] == "string_nul" and problem["input"] == "a\\u0000b"


async def test_an_id_longer_than_the_limit_is_422_and_one_at_the_limit_is_stored(app: Served) -> None:
    too_long = "s" * (MAX_ID_LENGTH + 1)
    longest = "s" * MAX_ID_LENGTH

    refused_at(await app.client.post("/sessions", json={"session_id": too_long}), "body", "session_id")
    refused_at(await app.client.get(f"/sessions/{too_long}"), "path", "session_id")
    assert (await app.client.post("/sessions", json={"session_id": longest})).status_code == 201
    assert await stored_session_ids(app) == [longest]


async def test_an_id_named_like_an_index_is_refused_so_one_user_cannot_break_anothers_writes(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    # On Redis, a session stored at the key of user ana's index made every later run of ana's
    # fail (WRONGTYPE) and her session list answer 503.
    for session_id in ("index:user_id:ana", "by_session:s1"):
        problem = refused_at(
            await app.client.post("/sessions", json={"session_id": session_id, "user_id": "mallory"}),
            "body",
            "session_id",
        )
        assert problem["type"] == "string_reserved"
        refused_at(
            await app.client.post(
                "/agents/assistant/runs", data={"message": "hi", "session_id": session_id, "stream": "false"}
            ),
            "body",
            "session_id",
        )
    refused_at(await app.client.post("/memories", json={"memory": "m", "memory_id": "index:x"}), "body", "memory_id")
    deleting = {"session_ids": ["s1", "index:user_id:ana"], "session_types": ["agent"]}
    refused_at(await app.client.request("DELETE", "/sessions", json=deleting), "body", "session_ids", 1)
    refused_at(
        await app.client.request("DELETE", "/memories", json={"memory_ids": ["index:x"]}), "body", "memory_ids", 0
    )
    assert fake_openai.requests == []

    fake_openai.script(Reply.say("hello ana"))
    ran = await app.client.post("/agents/assistant/runs", data={"message": "hi", "user_id": "ana", "stream": "false"})
    assert ran.status_code == 200 and ran.json()["status"] == "COMPLETED"
    assert [entry["user_id"] for entry in (await app.client.get("/sessions?user_id=ana")).json()["data"]] == ["ana"]


@pytest.mark.parametrize("path", ["/sessions", "/memories", "/eval-runs", "/user_memory_stats"])
async def test_a_huge_page_number_answers_an_empty_page(app: Served, path: str) -> None:
    assert (await app.client.post("/memories", json={"memory": "m", "user_id": "ana"})).status_code == 200
    assert (await app.client.post("/sessions", json={"session_id": "s1"})).status_code == 201

    response = await app.client.get(path, params={"page": HUGE_PAGE, "limit": 10_000})

    assert response.status_code == 200, response.text
    assert response.json()["data"] == [] and response.json()["meta"]["page"] == HUGE_PAGE


@pytest.mark.parametrize("path", ["/sessions", "/memories", "/eval-runs", "/user_memory_stats"])
async def test_a_huge_limit_is_422_naming_it(app: Served, path: str) -> None:
    refused_at(await app.client.get(path, params={"limit": HUGE_PAGE}), "query", "limit")


async def test_json_nested_deeper_than_the_limit_is_refused_naming_the_field(app: Served) -> None:
    # The body and its metadata object are two levels; the lists below them make up the rest.
    deep = json.loads(nested(MAX_JSON_DEPTH - 1))
    shallow = json.loads(nested(MAX_JSON_DEPTH - 2))

    problem = refused_at(await app.client.post("/sessions", json={"metadata": {"x": deep}}), *_deep_loc())
    assert problem["type"] == "json_too_deep"
    assert (
        await app.client.post("/sessions", json={"session_id": "ok", "metadata": {"x": shallow}})
    ).status_code == 201
    assert await stored_session_ids(app) == ["ok"]


def _deep_loc() -> tuple[str | int, ...]:
    # The innermost list, one level past the limit.
    return ("body", "metadata", "x", *([0] * (MAX_JSON_DEPTH - 2)))


async def test_json_nested_a_hundred_thousand_levels_is_a_4xx(app: Served) -> None:
    text = '{"metadata": {"x": ' + nested(100_000) + "}}"
    response = await app.client.post("/sessions", content=text, headers={"content-type": "application/json"})

    assert response.status_code == 400
    assert response.json() == {"detail": f"Invalid JSON body: nested too deeply (at most {MAX_JSON_DEPTH} levels)"}
    assert await stored_session_ids(app) == []


async def test_a_json_body_that_is_not_utf8_is_400_saying_so(app: Served) -> None:
    response = await app.client.post(
        "/sessions", content=b'{"session_id": "\xff"}', headers={"content-type": "application/json"}
    )

    assert response.status_code == 400 and response.json() == {"detail": "Invalid JSON body: not UTF-8 text"}


RUN_FORMS = [
    pytest.param({"message": f"hi{NUL}"}, 422, "message", id="message-nul"),
    pytest.param({"message": "hi", "session_id": f"s{NUL}"}, 422, "session_id", id="session-id-nul"),
    pytest.param({"message": "hi", "session_id": "s" * (MAX_ID_LENGTH + 1)}, 422, "session_id", id="session-id-long"),
    pytest.param({"message": "hi", "user_id": f"u{NUL}"}, 422, "user_id", id="user-id-nul"),
    pytest.param({"message": "hi", "metadata": json.dumps({"a": SURROGATE})}, 400, "metadata", id="metadata-surrogate"),
    pytest.param({"message": "hi", "metadata": json.dumps({"a": NUL})}, 400, "metadata", id="metadata-nul"),
    pytest.param(
        {"message": "hi", "session_state": json.dumps({"k": [SURROGATE]})}, 400, "session_state", id="state-surrogate"
    ),
    pytest.param({"message": "hi", "session_state": json.dumps({NUL: 1})}, 400, "session_state", id="state-key-nul"),
    pytest.param(
        {"message": "hi", "metadata": '{"x": ' + nested(MAX_JSON_DEPTH + 1) + "}"}, 400, "metadata", id="metadata-deep"
    ),
    pytest.param({"message": "hi", "metadata": nested(100_000)}, 400, "metadata", id="metadata-100k-deep"),
    pytest.param({"message": "hi", "num_history_runs": str(10**20)}, 400, "num_history_runs", id="history-huge"),
]


@pytest.mark.parametrize("stream", ["true", "false"])
@pytest.mark.parametrize(("form", "status", "field"), RUN_FORMS)
async def test_a_run_with_unstorable_input_is_refused_before_the_model_is_called(
    app: Served, fake_openai: FakeOpenAIServer, form: dict[str, str], status: int, field: str, stream: str
) -> None:
    response = await app.client.post("/agents/assistant/runs", data={**form, "stream": stream})

    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    if status == 422:
        assert [problem["loc"] for problem in detail] == [["body", field]]
    else:
        assert detail.startswith(f"Invalid {field} parameter")
    assert fake_openai.requests == []
    assert await stored_session_ids(app) == []


async def test_a_refused_detail_quotes_the_bad_text_escaped_so_the_answer_stays_utf8(app: Served) -> None:
    response = await app.client.post(
        "/agents/assistant/runs", data={"message": "hi", "stream": "false", "metadata": json.dumps({"k": SURROGATE})}
    )

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Invalid metadata parameter: metadata.k: Text may not contain a lone surrogate (\\ud800): send valid UTF-8 text"
    )


RUN_PATHS = ("/agents/writer/runs", "/teams/crew/runs", "/workflows/pipeline/runs")


@pytest.mark.parametrize("path", ["/teams/crew/runs", "/workflows/pipeline/runs"])
@pytest.mark.parametrize(
    ("form", "status"),
    [
        pytest.param({"message": f"hi{NUL}"}, 422, id="message-nul"),
        pytest.param({"message": "hi", "session_state": json.dumps({"k": SURROGATE})}, 400, id="state-surrogate"),
    ],
)
async def test_a_team_or_workflow_run_with_unstorable_input_is_refused_before_any_model_call(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path, path: str, form: dict[str, str], status: int
) -> None:
    async with serve_on(backend, workflow_config(fake_openai.base_url), tmp_path) as running:
        streamed = await running.client.post(path, data={**form, "stream": "true"})
        plain = await running.client.post(path, data={**form, "stream": "false"})
        listed = await running.client.get("/sessions")

    assert (streamed.status_code, plain.status_code) == (status, status)
    assert fake_openai.requests == []
    assert listed.json()["data"] == []


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_a_number_that_is_not_finite_is_refused_in_a_body_and_in_a_run_form(
    app: Served, fake_openai: FakeOpenAIServer, number: str
) -> None:
    text = '{"session_state": {"n": ' + number + "}}"
    created = await app.client.post("/sessions", content=text, headers={"content-type": "application/json"})
    run = await app.client.post(
        "/agents/assistant/runs", data={"message": "hi", "stream": "false", "metadata": '{"n": ' + number + "}"}
    )

    assert refused_at(created, "body", "session_state", "n")["type"] == "number_not_finite"
    assert run.status_code == 400 and run.json()["detail"].startswith("Invalid metadata parameter: metadata.n:")
    assert fake_openai.requests == [] and await stored_session_ids(app) == []


@pytest.mark.parametrize("field", ["session_state", "metadata", "dependencies", "knowledge_filters"])
async def test_an_integer_longer_than_python_reads_in_a_run_form_is_400_naming_the_field(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path, field: str
) -> None:
    form = {"message": "hi", "stream": "false", field: '{"a": ' + "9" * 5000 + "}"}

    async with serve_on(backend, workflow_config(fake_openai.base_url), tmp_path) as running:
        answers = [await running.client.post(path, data=form) for path in RUN_PATHS]

    for response in answers:
        assert response.status_code == 400, response.text
        assert response.json() == {"detail": f"Invalid {field} parameter: a number in it has more than 4300 digits"}
    assert fake_openai.requests == []


NOT_UTF8 = b"\xff\xfe caf\xe9"  # latin-1 bytes: Starlette alone would read them as "\xff\xfe café"
BEYOND_ASCII = "café 🎉 Привет"


def not_utf8(what: str) -> dict[str, str]:
    return {"detail": f"{what} is not valid UTF-8: send text encoded as UTF-8"}


def user_messages(fake_openai: FakeOpenAIServer) -> list[str]:
    return [message["content"] for message in fake_openai.bodies[0]["messages"] if message["role"] == "user"]


@pytest.mark.parametrize("kind", FORM_KINDS)
@pytest.mark.parametrize("stream", ["true", "false"])
@pytest.mark.parametrize(
    ("field", "value"),
    [("message", NOT_UTF8), ("session_id", b"s\xe9"), ("metadata", b'{"city": "M\xfcnchen"}')],
    ids=["message", "session_id", "metadata"],
)
async def test_a_run_form_field_that_is_not_utf8_is_400_naming_it_before_the_model_is_called(
    app: Served, fake_openai: FakeOpenAIServer, kind: str, stream: str, field: str, value: bytes
) -> None:
    pairs = {"message": b"hi", "stream": stream, field: value}

    response = await app.client.post("/agents/assistant/runs", **form(kind, *pairs.items()))

    assert (response.status_code, response.json()) == (400, not_utf8(f"field '{field}'"))
    assert fake_openai.requests == []
    assert await stored_session_ids(app) == []


@pytest.mark.parametrize("kind", FORM_KINDS)
@pytest.mark.parametrize("path", ["/teams/crew/runs", "/workflows/pipeline/runs"])
async def test_a_team_or_workflow_run_form_field_that_is_not_utf8_is_400_before_any_model_call(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path, path: str, kind: str
) -> None:
    async with serve_on(backend, workflow_config(fake_openai.base_url), tmp_path) as running:
        streamed = await running.client.post(path, **form(kind, ("message", NOT_UTF8), ("stream", "true")))
        plain = await running.client.post(path, **form(kind, ("message", "hi"), ("user_id", NOT_UTF8)))
        listed = await running.client.get("/sessions")

    assert (streamed.status_code, streamed.json()) == (400, not_utf8("field 'message'"))
    assert (plain.status_code, plain.json()) == (400, not_utf8("field 'user_id'"))
    assert fake_openai.requests == []
    assert listed.json()["data"] == []


@pytest.mark.parametrize("kind", FORM_KINDS)
async def test_text_beyond_ascii_sent_as_utf8_reaches_the_model_as_it_was_written(
    app: Served, fake_openai: FakeOpenAIServer, kind: str
) -> None:
    fake_openai.script(Reply.say("noted"))

    response = await app.client.post(
        "/agents/assistant/runs", **form(kind, ("message", BEYOND_ASCII), ("stream", "false"))
    )

    assert response.status_code == 200, response.text
    assert user_messages(fake_openai) == [BEYOND_ASCII]


CYRILLIC = "Привет"


@pytest.mark.parametrize(
    "request_args",
    [
        multipart(
            Part("message", CYRILLIC.encode("cp1251"), "text/plain; charset=windows-1251"), Part("stream", b"false")
        ),
        multipart(Part("message", CYRILLIC.encode("koi8-r")), Part("stream", b"false"), charset="koi8-r"),
        urlencoded(("message", CYRILLIC.encode("cp1251")), ("stream", "false"), charset="windows-1251"),
    ],
    ids=["multipart-part", "multipart-form", "urlencoded"],
)
async def test_text_in_the_charset_it_declares_is_read_in_that_charset(
    app: Served, fake_openai: FakeOpenAIServer, request_args: dict[str, Any]
) -> None:
    fake_openai.script(Reply.say("noted"))

    response = await app.client.post("/agents/assistant/runs", **request_args)

    assert response.status_code == 200, response.text
    assert user_messages(fake_openai) == [CYRILLIC]


@pytest.mark.parametrize(
    ("request_args", "detail"),
    [
        (
            multipart(Part("message", b"hi", "text/plain; charset=klingon")),
            "field 'message' declares charset 'klingon', which is not a charset read here",
        ),
        (
            multipart(Part("message", b"aGk=", "text/plain; charset=base64")),
            "field 'message' declares charset 'base64', which is not a charset read here",
        ),
        (
            multipart(Part("message", b"hi"), charset="klingon"),
            "the form declares charset 'klingon', which is not a charset read here",
        ),
        (
            urlencoded(("message", "hi"), charset="klingon"),
            "the form declares charset 'klingon', which is not a charset read here",
        ),
        (
            multipart(Part("message", b"\x82\xa0\xff", "text/plain; charset=shift_jis")),
            "field 'message' is not valid shift_jis, the charset declared for it",
        ),
        (
            multipart(Part("message", b"hi", "text/plain; charset=utf\x00-8")),
            "field 'message' declares charset 'utf\x00-8', which is not a charset read here",
        ),
        (
            multipart(Part("message", b"hi-", "text/plain; charset=punycode")),
            "field 'message' declares charset 'punycode', which is not a charset read here",
        ),
        (
            multipart(Part("message", b"+2AA-", "text/plain; charset=utf-7")),
            "field 'message' is not valid utf-7, the charset declared for it",
        ),
        (
            multipart(Part("message", b"hi", "text/plain; charset=" + "k" * 500)),
            "field 'message' declares charset '" + "k" * 40 + "...', which is not a charset read here",
        ),
    ],
    ids=[
        "part-unknown",
        "part-not-text",
        "form-unknown",
        "urlencoded-unknown",
        "part-not-valid-in-it",
        "part-nul-in-charset",
        "part-punycode",
        "part-lone-surrogate",
        "part-long-label",
    ],
)
async def test_a_declared_charset_not_read_here_or_text_not_valid_in_it_is_400_saying_which(
    app: Served, fake_openai: FakeOpenAIServer, request_args: dict[str, Any], detail: str
) -> None:
    response = await app.client.post("/agents/assistant/runs", **request_args)

    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(f"{detail}: send text encoded as UTF-8")
    assert fake_openai.requests == []


async def test_charset_labels_a_client_makes_up_are_refused_without_the_process_remembering_them(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    # Python's codec search keeps every label it did not find: one made up per request would grow memory.
    labels = [f"x-made-up-{uuid.uuid4().hex}" for _ in range(3)]
    for label in labels:
        part = multipart(Part("message", b"hi", f"text/plain; charset={label}"))
        form_wide = urlencoded(("message", "hi"), charset=label)
        for request_args in (part, form_wide):
            response = await app.client.post("/agents/assistant/runs", **request_args)
            assert response.status_code == 400, response.text

    remembered = [label for label in labels if encodings.normalize_encoding(label) in encodings._cache]
    assert remembered == []
    assert fake_openai.requests == []


@pytest.mark.parametrize("kind", FORM_KINDS)
async def test_a_field_name_that_is_not_utf8_is_400(app: Served, fake_openai: FakeOpenAIServer, kind: str) -> None:
    response = await app.client.post("/agents/assistant/runs", **form(kind, ("message", "hi"), (b"caf\xe9", "1")))

    assert (response.status_code, response.json()) == (400, not_utf8("a field name"))
    assert fake_openai.requests == []


FILLED_PATH = {
    "agent_id": "writer",
    "team_id": "crew",
    "workflow_id": "pipeline",
    "run_id": "r1",
    "content_id": "c1",
}


async def test_every_route_taking_a_form_refuses_a_field_that_is_not_utf8_in_either_encoding(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    async with serve_on(backend, workflow_config(fake_openai.base_url), tmp_path) as running:
        document = (await running.client.get("/openapi.json")).json()
        routes = [
            (method, path.format(**FILLED_PATH))
            for path, operations in document["paths"].items()
            for method, operation in operations.items()
            if any("form" in media for media in operation.get("requestBody", {}).get("content", {}))
        ]
        answers = {
            (method, path, kind): await running.client.request(method, path, **form(kind, ("message", NOT_UTF8)))
            for method, path in routes
            for kind in FORM_KINDS
        }

    assert len(routes) >= 12  # runs, resumes and continues of each component kind; knowledge uploads and changes
    for route, answer in answers.items():
        assert (answer.status_code, answer.json()) == (400, not_utf8("field 'message'")), route
    assert fake_openai.requests == []
