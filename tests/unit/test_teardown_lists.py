"""forge.teardown reads every list in pages, so a cluster with many Services or XRs is
torn down in bounded memory (its container has 64 MiB), and nothing past a page is missed."""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from typing import Any

from forge import teardown
from forge.versions import GROUP

VERSION = f"{GROUP}/v1alpha1"


class PagedApi:
    """An API server that serves at most ``limit`` items a request and a continue token."""

    def __init__(self, lists: dict[str, list[dict[str, Any]]]) -> None:
        self.lists = lists
        self.gets: list[str] = []
        self.deleted: list[str] = []
        self.gate = {"metadata": {"name": "g", "deletionTimestamp": "t", "finalizers": []}}

    def get(self, path: str) -> dict[str, Any]:
        self.gets.append(path)
        base, _, query = path.partition("?")
        if base == teardown.gate_path():
            return self.gate
        if base == f"/apis/{GROUP}":
            return {"preferredVersion": {"groupVersion": VERSION}}
        if base == f"/apis/{VERSION}":
            return {
                "resources": [{"name": "istios", "namespaced": True, "verbs": ["list", "delete"]}]
            }
        items = self.lists[base]
        params = dict(urllib.parse.parse_qsl(query))
        limit = int(params.get("limit", len(items) or 1))
        start = int(params.get("continue", "0"))
        page = items[start : start + limit]
        more = start + limit < len(items)
        return {"metadata": {"continue": str(start + limit) if more else ""}, "items": page}

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return body

    def delete(self, path: str) -> None:
        self.deleted.append(path)


def _items(n: int, **spec) -> list[dict[str, Any]]:
    return [{"metadata": {"name": f"x{i}", "namespace": "ns"}, "spec": spec} for i in range(n)]


def test_every_list_is_read_in_pages_and_every_page_is_acted_on(monkeypatch):
    monkeypatch.setattr(teardown, "PAGE_SIZE", 2)
    api = PagedApi(
        {
            f"/apis/{VERSION}/istios": _items(5),
            "/api/v1/services": _items(5, type="LoadBalancer"),
            "/apis/networking.k8s.io/v1/ingresses": [],
        }
    )
    assert teardown.step(api) is False  # composites deleted, waited for
    lists = [p for p in api.gets if p.partition("?")[0] == f"/apis/{VERSION}/istios"]
    assert lists == [
        f"/apis/{VERSION}/istios?limit=2",
        f"/apis/{VERSION}/istios?limit=2&continue=2",
        f"/apis/{VERSION}/istios?limit=2&continue=4",
    ]
    assert len(api.deleted) == 5  # all three pages

    api.lists[f"/apis/{VERSION}/istios"] = []
    api.deleted.clear()
    assert teardown.step(api) is False
    assert len(api.deleted) == 5
    assert all(p.startswith("/api/v1/namespaces/ns/services/") for p in api.deleted)
    assert all(
        "limit=2" in p for p in api.gets if p.startswith(("/api/v1/services", "/apis/networking"))
    )


def test_a_continue_token_is_quoted():
    api = PagedApi({"/api/v1/services": [], "/apis/networking.k8s.io/v1/ingresses": []})
    calls = []
    api.get = lambda path: (
        calls.append(path)
        or (
            {"metadata": {"continue": "a&b=c"}, "items": []}
            if len(calls) == 1
            else {"metadata": {}, "items": []}
        )
    )
    assert list(teardown.pages(api, "/api/v1/services")) == []
    assert calls[1] == f"/api/v1/services?limit={teardown.PAGE_SIZE}&continue=a%26b%3Dc"


def test_an_expired_continue_token_restarts_the_pass_and_deletes_nothing_partial(monkeypatch):
    """HTTP 410 on a later page (the token expired): that pass fails before deleting
    anything, the next one lists from the first page again."""
    monkeypatch.setattr(teardown, "PAGE_SIZE", 2)
    api = PagedApi(
        {
            f"/apis/{VERSION}/istios": _items(5),
            "/api/v1/services": [],
            "/apis/networking.k8s.io/v1/ingresses": [],
        }
    )
    served = api.get
    expired = []

    def get(path: str) -> dict[str, Any]:
        if "continue=2" in path and not expired:
            expired.append(path)
            raise RuntimeError(f"GET {path}: HTTP 410 Gone")
        return served(path)

    api.get = get
    passes = []

    def sleep(_interval: float) -> None:
        passes.append(list(api.deleted))
        if api.deleted:  # the cluster's Crossplane finishes deleting them
            api.lists[f"/apis/{VERSION}/istios"] = []

    teardown.run(api, sleep=sleep)
    assert expired
    assert passes[0] == []  # the failed pass deleted nothing
    assert len(passes[1]) == 5  # the next one listed every page again


def test_the_tls_context_is_made_again_only_when_the_ca_file_changes(tmp_path, monkeypatch):
    """The CA file is read once, not on every call, and again once it is replaced."""
    made = []
    real = teardown.ssl.create_default_context
    monkeypatch.setattr(
        teardown.ssl, "create_default_context", lambda **kw: made.append(kw) or real()
    )
    ca, token = tmp_path / "ca.crt", tmp_path / "token"
    ca.write_text("")
    token.write_text("t")
    api = teardown.HttpApi("https://127.0.0.1:1", str(token), str(ca), timeout=0.2)

    def calls(n: int) -> None:
        for _ in range(n):
            with contextlib.suppress(OSError):  # nothing listens: the point is the context
                api.get("/version")

    calls(3)
    assert made == [{"cafile": str(ca)}]
    os.utime(ca, (1, 1))  # rotated
    calls(2)
    assert len(made) == 2
