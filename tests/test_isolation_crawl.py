"""The tenancy guard: every URL and API route, walked as an outsider and as a viewer.

Nothing here lists routes by hand. The crawl reads Django's URL resolver and the
API's OpenAPI schema, fills every path parameter with the ids of objects the
outsider must not reach, and asserts that:

- no response to the outsider contains text from an object it may not see;
- nothing the outsider may not see changes, whatever it sends;
- a viewer changes nothing at all (except its own credentials and session);
- no route answers with a server error.

A route added by a later issue is crawled the day it is added.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps import apps
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver

from sourcewise.core.tenancy import TenantModel

# Writes that a viewer may make because they concern only the viewer: their own
# session and their own credentials. Everything else must leave the data as it was.
# Creating an organisation of one's own is personal too: the viewer becomes its owner.
PERSONAL_PAGES = {
    "logout", "switch_organization", "api_tokens", "api_token_revoke", "password_reset",
    "organization_new",
}
PERSONAL_API = {"/api/v1/tokens", "/api/v1/tokens/{}/revoke"}
# Never crawled: it ends the crawling client's session half-way.
SKIP_PAGES = {"logout"}
# Statuses an outsider may get; 200 is allowed only without leaked text.
ALLOWED = {200, 201, 204, 301, 302, 400, 401, 403, 404, 405, 409, 410, 422}
# Values that look like writes for most forms: enough to pass a form that has no tenancy check.
FORM_DATA = {
    "name": "Crawler was here", "email": "crawler@example.test", "role": "owner",
    "organization": "1", "counterpart": "unrelated", "our_side": "buyer", "services": "x",
    "description": "x", "start_date": "2026-01-01", "end_date": "2026-12-31",
    "full_name": "Crawler", "password": "a very long crawler password 123", "industry": "x",
    "q": "x", "status": "active", "new_password1": "a very long crawler password 123",
    "new_password2": "a very long crawler password 123",
}
# Ignored when comparing data: bookkeeping that reads legitimately update.
VOLATILE_FIELDS = {"last_used_at", "last_login"}
MIN_SECRET_LENGTH = 12
CODE = re.compile(r"[a-z0-9_.\-]+")


def _singular(segment: str) -> str:
    word = segment.lower().replace("-", "").replace("_", "")
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tenant_models() -> list[type[TenantModel]]:
    return [m for m in apps.get_models() if issubclass(m, TenantModel)]


def all_models() -> list:
    exempt = {"accounts.loginfailure", "core.audithead"}
    return [
        m for m in apps.get_models()
        if m.__module__.startswith("sourcewise.") and m._meta.label_lower not in exempt
    ]


def walk_patterns(resolvers=None, prefix: str = "") -> Iterator[tuple[str, str | None]]:
    """Every (route, name) of the URL map, with nested includes flattened."""
    for entry in resolvers if resolvers is not None else get_resolver().url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk_patterns(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry.name


PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")
API_PARAM = re.compile(r"{(?P<name>[^}]+)}")


def _text_of(row) -> set[str]:
    return {
        str(getattr(row, f.attname))
        for f in row._meta.concrete_fields
        if f.get_internal_type() in ("CharField", "TextField", "EmailField", "SlugField")
        and getattr(row, f.attname)
    }


def _related_text(row) -> set[str]:
    """Text of the objects a visible row points to (an engagement shows its parties' names)."""
    texts: set[str] = set()
    for f in row._meta.concrete_fields:
        if f.is_relation and getattr(row, f.attname) is not None:
            texts |= _text_of(getattr(row, f.name))
    return texts


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in node:  # Optional[X]: the non-null branch
        node = next((n for n in node["anyOf"] if n.get("type") != "null"), node["anyOf"][0])
        return _resolve(schema, node)
    return node


def request_bodies(schema: dict, operation: dict) -> list[str]:
    """JSON bodies that the operation's own schema accepts, so the crawl reaches its permission check.

    Each property takes the crawl's value of the same name when it has one, else a
    value of the property's type. An optimistic-lock `version` is sent as 1, 2 and 3
    so that a stale version cannot hide a missing permission check.
    """
    content = operation.get("requestBody", {}).get("content", {})
    media = content.get("application/json")
    if media is None:
        return [json.dumps(FORM_DATA)]
    node = _resolve(schema, media["schema"])
    body = {}
    for name, prop in node.get("properties", {}).items():
        prop = _resolve(schema, prop)
        if "enum" in prop:
            value = FORM_DATA.get(name) if FORM_DATA.get(name) in prop["enum"] else prop["enum"][0]
        elif prop.get("type") == "integer":
            value = 1
        elif prop.get("type") == "boolean":
            value = True
        elif prop.get("type") == "array":
            value = []
        elif prop.get("format") == "date":
            value = FORM_DATA.get(name, "2026-01-01")
        else:
            value = FORM_DATA.get(name, "crawler value")
        body[name] = value
    if "version" in body:
        return [json.dumps(body | {"version": v}) for v in (1, 2, 3)]
    return [json.dumps(body)]


class Crawl:
    """The victims' objects, their ids and their text, seen from the outsider."""

    def __init__(self, world) -> None:
        self.world = world
        attacker = world.outsider.owner
        self.hidden_ids: set[int] = set()
        self.ids_by_model: dict[str, set[int]] = {}
        self.hidden_strs: set[str] = set()
        self.secrets: set[str] = set()
        visible_text: set[str] = set()
        for model in tenant_models():
            visible = model.objects.visible_to(attacker)
            visible_pks = set(visible.values_list("pk", flat=True))
            for row in model.objects.all():
                texts = _text_of(row)
                if row.pk in visible_pks:
                    visible_text |= texts | _related_text(row)
                    continue
                if isinstance(row.pk, int):
                    self.hidden_ids.add(row.pk)
                    self.ids_by_model.setdefault(model._meta.model_name, set()).add(row.pk)
                else:
                    self.hidden_strs.add(str(row.pk))
                self.secrets |= texts
        # An id is a target only if no object the outsider may see has it: with many models,
        # a hidden row's id can equal the outsider's own membership id, and the outsider
        # leaving its own organisation is not a leak.
        self.hidden_ids -= _visible_ids_for(attacker)
        for ids in self.ids_by_model.values():
            ids &= self.hidden_ids
        # Codes (actions, states, hashes) are vocabulary, not content: only human text counts.
        self.secrets = {
            s for s in self.secrets - visible_text
            if len(s) >= MIN_SECRET_LENGTH and not CODE.fullmatch(s)
        }
        self.hidden_strs |= {world.buyer.organization.slug, "not-a-real-token-0123456789"}
        assert self.secrets, "the fixture must give the crawl something to protect"
        assert world.engagement.name in self.secrets

    def add_targets(self, ids_by_model: dict[str, set[int]]) -> None:
        """Also aim at these objects (a viewer's own engagement's objects, say)."""
        for name, ids in ids_by_model.items():
            self.ids_by_model.setdefault(name, set()).update(ids)
            self.hidden_ids |= ids

    def ids_for(self, before: str) -> list[int]:
        """The ids to try for an integer parameter, from the path segment that names it.

        `/incidents/<int:pk>/` takes every hidden incident's id; trying every hidden id of
        every model at every route made the crawl grow with the square of the product.
        A few ids of other models are tried too, in case the segment misleads; a segment
        that names no model gets every id.
        """
        segments = [seg for seg in re.split(r"[/{}<>]", before) if seg and ":" not in seg]
        word = _singular(segments[-1]) if segments else ""
        named = set()
        for name, ids in self.ids_by_model.items():
            if word and (name == word or name.endswith(word) or (len(name) >= 4 and word.endswith(name))):
                named |= ids
        if not named:
            return sorted(self.hidden_ids)
        others = sorted(self.hidden_ids - named)
        return sorted(named | set(others[:2]) | set(others[-2:]))

    def fill(self, route: str, pattern: re.Pattern, conv_of=lambda m: m.group("conv")) -> list[str]:
        """Concrete paths for a route: each parameter takes the hidden objects' ids."""
        params = list(pattern.finditer(route))
        if not params:
            return [route]
        choices = []
        for match in params:
            conv = conv_of(match) or "str"
            if conv == "int":
                choices.append(self.ids_for(route[:match.start()]))
            elif conv == "uuid":
                choices.append(sorted(self.hidden_strs) or ["00000000-0000-0000-0000-000000000000"])
            else:
                choices.append(sorted(self.hidden_strs | {str(i) for i in self.hidden_ids}))
        combos = list(itertools.islice(itertools.product(*choices), 120))
        paths = []
        for combo in combos:
            values = iter(combo)
            paths.append(pattern.sub(lambda _m, v=values: str(next(v)), route))
        return paths

    def page_paths(self) -> list[tuple[str, str | None]]:
        paths = []
        for route, name in walk_patterns():
            if route.startswith("api/") or name in SKIP_PAGES:
                continue
            route = route.replace("^", "").replace("$", "")
            for path in self.fill(route, PARAM):
                paths.append(("/" + path, name))
        return paths

    def api_paths(self) -> list[tuple[str, str, str]]:
        from sourcewise.config.api import api

        schema = api.get_openapi_schema(path_prefix="/api/v1")
        paths = []
        for route, operations in schema["paths"].items():
            for method in operations:
                params = {
                    p["name"]: p.get("schema", {}).get("type", "string")
                    for p in operations[method].get("parameters", []) if p.get("in") == "path"
                }
                conv = {name: ("int" if kind == "integer" else "str") for name, kind in params.items()}
                bodies = request_bodies(schema, operations[method])
                for path in self.fill(route, API_PARAM, conv_of=lambda m, c=conv: c.get(m.group("name"))):
                    for body in bodies:
                        paths.append((method.upper(), path, route, body))
        return paths

    def leaks(self, content: bytes) -> list[str]:
        text = content.decode("utf-8", "replace")
        return sorted(s for s in self.secrets if s in text)


def outsider_view(user) -> tuple:
    """The user and the organisations it belongs to now: what "hidden from it" is judged by.

    Kept from before the crawl, so the outsider leaving its own organisation (a right
    it has) does not make its own organisation's rows look like hidden rows it changed;
    organisations it joins or founds during the crawl count too.
    """
    return user, set(_organization_ids(user))


def _organization_ids(user) -> list[int]:
    from sourcewise.accounts.models import Membership

    return list(Membership.objects.filter(user=user).values_list("organization_id", flat=True))


def data_snapshot(only_hidden_from=None) -> dict:
    """Every row of every Sourcewise model (or only those hidden from a user)."""
    snapshot = {}
    for model in all_models():
        queryset = model.objects.all()
        if only_hidden_from is not None:
            if not issubclass(model, TenantModel):
                continue
            user, org_ids = only_hidden_from
            org_ids = sorted(org_ids | set(_organization_ids(user)))
            visible = model.tenant_restrict(model.objects.filter(model.tenant_filter(org_ids)), user)
            queryset = queryset.exclude(pk__in=visible.values("pk"))
        rows = []
        for row in queryset.order_by("pk").values():
            rows.append({k: str(v) for k, v in row.items() if k not in VOLATILE_FIELDS})
        snapshot[model._meta.label] = rows
    return snapshot


def first_difference(before: dict, after: dict) -> str:
    for label in before:
        if before[label] != after.get(label):
            return f"{label}: {len(before[label])} rows before, {len(after.get(label, []))} after"
    return "no difference"


@pytest.fixture
def crawl(world) -> Crawl:
    from sourcewise.accounts import services as accounts

    # Give the victims an invitation and a token too, so those routes have targets.
    accounts.invitation_create(
        actor=world.buyer.owner, organization=world.buyer.organization,
        email="invited-colleague@northwind.test", role="member",
    )
    accounts.api_token_create(actor=world.buyer.manager, organization=world.buyer.organization,
                              name="Northwind nightly upload")
    for module in crawl_target_modules():
        module.populate(world)
    return Crawl(world)


def crawl_target_modules() -> list:
    """Each app's `tests/<app>/crawl_targets.py`: `populate(world)` gives its routes real targets.

    A module may also define FORM_DATA (merged into the crawl's form values) and
    PERSONAL_PAGES / PERSONAL_API (writes that concern only the viewer).
    """
    modules = []
    for path in sorted(Path(__file__).parent.glob("*/crawl_targets.py")):
        spec = importlib.util.spec_from_file_location(f"crawl_targets_{path.parent.name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


for _module in crawl_target_modules():
    FORM_DATA.update(getattr(_module, "FORM_DATA", {}))
    PERSONAL_PAGES |= set(getattr(_module, "PERSONAL_PAGES", ()))
    PERSONAL_API |= set(getattr(_module, "PERSONAL_API", ()))


@pytest.mark.django_db
def test_the_crawl_reaches_every_route(crawl):
    """The crawl itself must not silently skip: every named page and API route is walked."""
    names = {name for _path, name in crawl.page_paths()}
    for route, name in walk_patterns():
        if not route.startswith("api/") and name not in SKIP_PAGES:
            assert name in names, f"route {route} ({name}) is not crawled"
    api_routes = {route for _m, _p, route, _b in crawl.api_paths()}
    assert "/api/v1/engagements/{id}" in api_routes or any("{" in r for r in api_routes)
    assert len(api_routes) >= 5


def _request(client, method: str, path: str, **extra):
    if method == "GET":
        return client.get(path, **extra)
    return client.post(path, FORM_DATA, **extra)


@pytest.mark.django_db
def test_outsider_pages_leak_nothing_and_change_nothing(crawl, client):
    client.force_login(crawl.world.outsider.owner)
    hidden = outsider_view(crawl.world.outsider.owner)
    hidden_before = data_snapshot(only_hidden_from=hidden)
    problems = []
    for path, name in crawl.page_paths():
        for method in ("GET", "POST"):
            response = _request(client, method, path)
            if response.status_code not in ALLOWED:
                problems.append(f"{method} {path} ({name}) answered {response.status_code}")
            leaked = crawl.leaks(response.content) if hasattr(response, "content") else []
            if leaked:
                problems.append(f"{method} {path} ({name}) shows {leaked[:3]}")
    hidden_after = data_snapshot(only_hidden_from=hidden)
    if hidden_before != hidden_after:
        problems.append("the outsider changed hidden data: " + first_difference(hidden_before, hidden_after))
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_outsider_api_leaks_nothing_and_changes_nothing(crawl, client):
    world = crawl.world
    auth = TokenAuth(world.outsider.owner, world.outsider.organization)
    hidden = outsider_view(world.outsider.owner)
    hidden_before = data_snapshot(only_hidden_from=hidden)
    problems = []
    for method, path, _route, body in crawl.api_paths():
        response = client.generic(method, path, body, content_type="application/json", **auth.header())
        if response.status_code not in ALLOWED:
            problems.append(f"{method} {path} answered {response.status_code}")
        leaked = crawl.leaks(response.content)
        if leaked:
            problems.append(f"{method} {path} shows {leaked[:3]}")
    hidden_after = data_snapshot(only_hidden_from=hidden)
    if hidden_before != hidden_after:
        problems.append("the outsider changed hidden data: " + first_difference(hidden_before, hidden_after))
    assert not problems, "\n".join(problems)


class TokenAuth:
    """A Bearer header for a user's token, made anew if the crawl revoked the old one."""

    def __init__(self, user, organization) -> None:
        self.user, self.organization, self.token, self.secret = user, organization, None, ""

    def header(self) -> dict:
        from sourcewise.accounts import services as accounts

        if self.token is None or (self.token.refresh_from_db() or self.token.revoked_at):
            self.token, self.secret = accounts.api_token_create(
                actor=self.user, organization=self.organization, name="crawler")
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}


def _visible_ids_by_model(user) -> dict[str, set[int]]:
    ids: dict[str, set[int]] = {}
    for model in tenant_models():
        pks = {pk for pk in model.objects.visible_to(user).values_list("pk", flat=True) if isinstance(pk, int)}
        ids.setdefault(model._meta.model_name, set()).update(pks)
    return ids


def _visible_ids_for(user) -> set[int]:
    ids: set[int] = set()
    for model in tenant_models():
        ids |= {pk for pk in model.objects.visible_to(user).values_list("pk", flat=True) if isinstance(pk, int)}
    return ids


def _viewer_requests(send, requests) -> list[str]:
    """Send every request; if the data changed, undo and send them one by one to name the culprits.

    One snapshot around the whole batch keeps the crawl fast; the slow search runs
    only when something is already wrong, from the same starting data.
    """
    problems: list[str] = []
    start = transaction.savepoint()
    before = data_snapshot()
    for label, request in requests:
        status = send(request)
        if status not in ALLOWED:
            problems.append(f"{label} answered {status}")
    if data_snapshot() == before:
        return problems
    transaction.savepoint_rollback(start)
    for label, request in requests:
        before = data_snapshot()
        send(request)
        after = data_snapshot()
        if before != after:
            problems.append(f"{label} let a viewer write: {first_difference(before, after)}")
    return problems or ["a viewer changed data, and repeating the requests did not say which"]


@pytest.mark.django_db
def test_viewer_pages_change_nothing(crawl, client):
    """A viewer of the buyer reaches its own objects and still cannot write anything."""
    viewer = crawl.world.buyer.viewer
    crawl.add_targets(_visible_ids_by_model(viewer))
    client.force_login(viewer)
    requests = [
        (f"{method} {path} ({name})", (method, path))
        for path, name in crawl.page_paths() if name not in PERSONAL_PAGES
        for method in ("GET", "POST")
    ]
    problems = _viewer_requests(lambda r: _request(client, *r).status_code, requests)
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_viewer_api_changes_nothing(crawl, client):
    viewer = crawl.world.buyer.viewer
    auth = TokenAuth(viewer, crawl.world.buyer.organization)
    auth.header()  # the token exists before the first snapshot
    crawl.add_targets(_visible_ids_by_model(viewer))
    requests = [
        (f"{method} {path}", (method, path, body))
        for method, path, route, body in crawl.api_paths()
        if API_PARAM.sub("{}", route) not in PERSONAL_API
    ]

    def send(request) -> int:
        method, path, body = request
        return client.generic(method, path, body, content_type="application/json",
                              **auth.header()).status_code

    problems = _viewer_requests(send, requests)
    assert not problems, "\n".join(problems)
