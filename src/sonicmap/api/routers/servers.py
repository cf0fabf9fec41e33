"""Music servers: ``/servers`` (list, add, change, remove, test, sync) and ``/playlists``
(list, push). Mutations need the API key; sync and push run as worker tasks (202).

Secrets over the API: either the value itself (``{"type": ..., "value": ...}``, stored in the
database because the caller sent it) or the name of an environment variable of the API's host
that starts with ``SONICMAP_SERVER_`` (``{"type": ..., "env": ...}``). Files and other variables
are refused: a key holder could otherwise point a "password" at any file or variable of the host
and have it sent to a server of their choice. Secrets are never returned.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, Field, model_validator

from sonicmap.api.deps import (
    READ_ERRORS,
    WRITE_ERRORS,
    QueueDep,
    ReadAccess,
    RequireKey,
    StoreDep,
    responses,
)
from sonicmap.api.errors import ApiError
from sonicmap.api.schemas import TaskAccepted
from sonicmap.errors import ServerError
from sonicmap.pipeline.servers import URL_PATTERN

router = APIRouter(tags=["servers"])

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ENV_PATTERN = r"^SONICMAP_SERVER_[A-Z0-9_]{1,64}$"
#: Seconds a connection test over the API may wait for the server.
TEST_TIMEOUT_S = 10.0

NameParam = Annotated[str, Path(pattern=NAME_PATTERN, description="Server name.")]


class SecretIn(BaseModel):
    type: Literal["password", "api_key"] = "password"
    value: str | None = Field(None, min_length=1, max_length=1024, description="Stored as given.")
    env: str | None = Field(
        None, pattern=ENV_PATTERN, description="A variable of the API host (SONICMAP_SERVER_*)."
    )

    @model_validator(mode="after")
    def _one(self) -> SecretIn:
        if (self.value is None) == (self.env is None):
            raise ValueError("give exactly one of value or env")
        return self

    def ref(self) -> dict[str, Any]:
        if self.value is not None:
            return {"type": self.type, "source": "stored", "value": self.value}
        return {"type": self.type, "source": "env", "ref": self.env}


class ServerOptions(BaseModel):
    sync_after_scan: bool | None = None
    refresh_playlists_on_activate: bool | None = None
    use_paths: bool | None = None
    path_prefix: str | None = Field(None, max_length=1024)


class ServerIn(ServerOptions):
    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["subsonic", "jellyfin", "lyrion"]
    url: str = Field(pattern=URL_PATTERN, max_length=1024)
    user: str | None = Field(None, min_length=1, max_length=256)
    secret: SecretIn | None = Field(
        None, description="Required, except for a Lyrion server without password protection."
    )
    test: bool = Field(
        True, description="Check the connection first; nothing is stored if it fails."
    )


class ServerPatch(ServerOptions):
    url: str | None = Field(None, pattern=URL_PATTERN, max_length=1024)


class SecretOut(BaseModel):
    type: str | None
    source: str | None
    ref: str | None


class ServerOut(BaseModel):
    id: int
    name: str
    kind: str
    url: str
    user: str | None
    secret: SecretOut
    options: dict[str, Any]
    last_sync_at: str | None
    last_sync: dict[str, Any] | None
    created_at: str | None
    mapping: dict[str, Any] | None = None


class ServerTest(BaseModel):
    name: str
    ok: bool
    detail: dict[str, Any]


class PushIn(BaseModel):
    server: str = Field(pattern=NAME_PATTERN)
    cluster: int | None = Field(None, ge=0, le=2**31 - 1)
    all_clusters: bool = False
    radio: int | None = Field(None, ge=1, le=2**31 - 1, description="Track id.")
    artist: int | None = Field(None, ge=1, le=2**31 - 1, description="Artist id.")
    path: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None = Field(
        None, min_length=2, max_length=2, description="Start and end track ids."
    )
    count: int | None = Field(None, ge=1, le=500)
    name: str | None = Field(None, min_length=1, max_length=512)

    @model_validator(mode="after")
    def _one(self) -> PushIn:
        picked = [
            self.cluster is not None,
            self.all_clusters,
            self.radio is not None,
            self.artist is not None,
            self.path is not None,
        ]
        if sum(picked) != 1:
            raise ValueError("give exactly one of cluster, all_clusters, radio, artist or path")
        return self


class PushedPlaylist(BaseModel):
    server: str
    key: str
    kind: str
    name: str
    playlist_id: str
    tracks: int
    params: dict[str, Any]
    created_at: str | None
    updated_at: str | None


def _out(info: Any, mapping: dict[str, Any] | None = None) -> ServerOut:
    return ServerOut(**info.to_dict(), mapping=mapping)


def _options(body: ServerOptions) -> dict[str, Any]:
    out = {
        k: v
        for k, v in body.model_dump(include=set(ServerOptions.model_fields)).items()
        if v is not None
    }
    if "path_prefix" in out and not out["path_prefix"]:
        out["path_prefix"] = None
    return out


@router.get(
    "/servers",
    response_model=list[ServerOut],
    dependencies=[ReadAccess],
    responses=responses(*READ_ERRORS),
    summary="The configured music servers (never their secrets)",
)
def list_servers(store: StoreDep) -> list[ServerOut]:
    from sonicmap.pipeline import servers as srv

    return [_out(s) for s in srv.list_servers(store)]


@router.post(
    "/servers",
    status_code=201,
    response_model=ServerOut,
    dependencies=[RequireKey],
    responses=responses(*WRITE_ERRORS, 409),
    summary="Add a music server (its connection tested first unless test is false: 422 "
    "server_test_failed when it fails, nothing stored)",
)
def add_server(store: StoreDep, body: Annotated[ServerIn, Body()]) -> ServerOut:
    from sonicmap.pipeline import servers as srv
    from sonicmap.remote import make_client

    if body.secret is None and (body.kind != "lyrion" or body.user):
        raise ApiError(422, "invalid_parameter", "this server needs a secret", field="secret")
    ref = body.secret.ref() if body.secret else {"type": "password", "source": "none"}
    secret = srv.validate_secret(ref)
    options = _options(body)
    if body.kind == "subsonic" and not body.user and secret["type"] != "api_key":
        raise ApiError(422, "invalid_parameter", "a Subsonic server needs a user", field="user")
    if body.test:
        probe = srv.ServerInfo(
            id=0, name=body.name, kind=body.kind, url=srv.validate_url(body.url),
            username=body.user, secret=secret, options=options,
        )  # fmt: skip
        try:
            make_client(probe, timeout=TEST_TIMEOUT_S).ping()
        except ServerError as exc:
            raise ApiError(422, "server_test_failed", str(exc)) from None
    info = srv.add_server(
        store, name=body.name, kind=body.kind, url=body.url, username=body.user,
        secret=secret, options=options,
    )  # fmt: skip
    return _out(info)


@router.get(
    "/servers/{name}",
    response_model=ServerOut,
    dependencies=[ReadAccess],
    responses=responses(*READ_ERRORS, 404),
    summary="One server, with how many of its songs are mapped (by method)",
)
def get_server(store: StoreDep, name: NameParam) -> ServerOut:
    from sonicmap.pipeline import servers as srv

    info = srv.get_server(store, name)
    return _out(info, srv.mapping_counts(store, info))


@router.patch(
    "/servers/{name}",
    response_model=ServerOut,
    dependencies=[RequireKey],
    responses=responses(*WRITE_ERRORS, 404),
    summary="Change a server's URL or options",
)
def patch_server(
    store: StoreDep, name: NameParam, body: Annotated[ServerPatch, Body()]
) -> ServerOut:
    from sonicmap.pipeline import servers as srv

    return _out(srv.set_options(store, name, url=body.url, **_options(body)))


@router.delete(
    "/servers/{name}",
    response_model=ServerOut,
    dependencies=[RequireKey],
    responses=responses(*WRITE_ERRORS, 404),
    summary="Forget a server and its id mappings (its playlists on the server stay)",
)
def delete_server(store: StoreDep, name: NameParam) -> ServerOut:
    from sonicmap.pipeline import servers as srv

    return _out(srv.remove_server(store, name))


@router.post(
    "/servers/{name}/test",
    response_model=ServerTest,
    dependencies=[RequireKey],
    responses=responses(*WRITE_ERRORS, 404),
    summary="Check the server answers and accepts the credentials",
)
def test_server(store: StoreDep, name: NameParam) -> ServerTest:
    from sonicmap.pipeline import servers as srv
    from sonicmap.remote import make_client

    info = srv.get_server(store, name)
    try:
        detail = make_client(info, timeout=TEST_TIMEOUT_S).ping()
    except ServerError as exc:
        return ServerTest(name=info.name, ok=False, detail={"error": str(exc)})
    return ServerTest(name=info.name, ok=True, detail=detail)


@router.post(
    "/servers/{name}/sync",
    status_code=202,
    response_model=TaskAccepted,
    dependencies=[RequireKey],
    responses=responses(*WRITE_ERRORS, 404),
    summary="Queue a sync of the server's song ids (task sync_servers)",
)
def sync_server(store: StoreDep, queue: QueueDep, name: NameParam) -> TaskAccepted:
    from sonicmap.pipeline import servers as srv

    info = srv.get_server(store, name)
    task_id = queue.enqueue("sync_servers", {"name": info.name})
    return TaskAccepted(task_id=task_id, task="sync_servers", status="queued")


@router.get(
    "/playlists",
    response_model=list[PushedPlaylist],
    dependencies=[ReadAccess],
    responses=responses(*READ_ERRORS, 404),
    summary="Playlists sonicmap pushed to music servers",
)
def list_playlists(
    store: StoreDep,
    server: Annotated[
        str | None, Query(pattern=NAME_PATTERN, description="Only this server.")
    ] = None,
) -> list[PushedPlaylist]:
    from sonicmap.pipeline.playlists import list_pushed

    return [PushedPlaylist(**p) for p in list_pushed(store, server)]


@router.post(
    "/playlists/push",
    status_code=202,
    response_model=TaskAccepted,
    dependencies=[RequireKey],
    responses=responses(*WRITE_ERRORS, 404),
    summary="Queue a playlist push (task push_playlists): updated in place when pushed before",
)
def push_playlists(
    store: StoreDep, queue: QueueDep, body: Annotated[PushIn, Body()]
) -> TaskAccepted:
    from sonicmap.pipeline import servers as srv

    info = srv.get_server(store, body.server)
    request = body.model_dump(exclude={"server"}, exclude_defaults=True)
    task_id = queue.enqueue("push_playlists", {"server": info.name, "request": request})
    return TaskAccepted(task_id=task_id, task="push_playlists", status="queued")
