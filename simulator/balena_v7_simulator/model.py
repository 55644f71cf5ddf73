"""The v7 data model the simulator serves, read from the bundled resource graph (``proxy/data``, the engine's).

The graph says which names are fields and which are navigations; this module adds what an evaluator needs
to *join*: for a to-one navigation the column holding the foreign key, and for a collection navigation the
column of the target resource that points back. Most of that follows from the graph; the few ambiguous
reverse navigations (a release is pointed at by five device columns) are declared in ``REVERSE_COLUMNS``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

FLAVOURS = ("balena-cloud", "open-balena")

# (resource, navigation) -> column of the target resource that points back, where the graph is ambiguous.
REVERSE_COLUMNS: dict[tuple[str, str], str] = {
    ("release", "should_be_running_on__device"): "should_be_running__release",
    ("release", "is_running_on__device"): "is_running__release",
    ("release", "is_pinned_to__device"): "is_pinned_on__release",
    ("release", "should_operate__device"): "should_be_operated_by__release",
    ("release", "should_manage__device"): "should_be_managed_by__release",
    ("release", "should_be_running_on__application"): "should_be_running__release",
    ("release", "owns__release"): "belongs_to__application",
    ("application", "owns__release"): "belongs_to__application",
    ("application", "owns__device"): "belongs_to__application",
    ("application", "is_directly_accessible_by__user"): "has_direct_access_to__application",
    ("user", "has_direct_access_to__application"): "user",
    ("device_type", "device"): "is_of__device_type",
    ("device_type", "describes__device"): "is_of__device_type",
    ("device_type", "is_default_for__application"): "is_for__device_type",
    ("device_type", "device_history"): "is_of__device_type",
    ("release", "release_image"): "is_part_of__release",
    ("release", "image__is_part_of__release"): "is_part_of__release",
    ("release", "contains__image"): "is_part_of__release",
    ("image", "release_image"): "image",
    ("image", "is_part_of__release"): "image",
    ("image", "image__is_part_of__release"): "image",
    ("image", "image_install"): "installs__image",
    ("image", "device__installs__image"): "installs__image",
    ("user", "creates__release"): "is_created_by__user",
    ("user", "owns__device"): "belongs_to__user",
    ("device", "device_history"): "tracks__device",
    ("application", "device_history"): "belongs_to__application",
    ("release", "device_history"): "is_running__release",
}

# Columns the server computes on every read (from other columns and rows); never stored.
DERIVED_ON_READ = {
    "device": {"overall_status", "overall_progress", "should_be_running__release"},
    "release": {"is_final"},
}
# Columns a write cannot set: derived on read, or derived once by a server hook at write time (release
# versioning), or a view (direct access). A PATCH with only these keys fails as on the server.
COMPUTED = {
    "device": DERIVED_ON_READ["device"],
    "release": {
        "is_final",
        "raw_version",
        "version",
        "semver_major",
        "semver_minor",
        "semver_patch",
        "semver_prerelease",
        "semver_build",
        "is_finalized_at__date",
    },
    "user__has_direct_access_to__application": {"id", "user", "has_direct_access_to__application"},
}

# Resources no API caller may read (open-balena answers 401 even to its superuser).
UNREADABLE = frozenset(
    {
        "actor",
        "api_key__has__permission",
        "api_key__has__role",
        "config",
        "permission",
        "role",
        "role__has__permission",
        "user_permission",
        "user_role",
    }
)


@dataclass
class Resource:
    """One v7 resource: its columns in key order and how each navigation joins."""

    name: str
    fields: dict[str, str]
    key_order: list[str]
    navigation: dict[str, str]
    many: set[str]
    aliases: list[str] = field(default_factory=list)
    # to-one navigation -> local FK column
    fk_column: dict[str, str] = field(default_factory=dict)
    # collection navigation -> column of the target pointing back here
    back_column: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return self.key_order

    def has_name(self, name: str) -> bool:
        return name in self.fields or name in self.navigation

    def type_of(self, name: str) -> str:
        return self.fields.get(name, "")


class Model:
    """All resources of one flavour, with synonym resolution."""

    def __init__(self, resources_: dict[str, Resource], flavour: str) -> None:
        self.flavour = flavour
        self.resources = resources_
        self.synonyms: dict[str, str] = {}
        for res in resources_.values():
            for alias in res.aliases:
                self.synonyms[alias] = res.name

    def resolve(self, name: str) -> Resource | None:
        """The resource a path segment names (canonical name or fact-type synonym)."""
        res = self.resources.get(name)
        if res is None and name in self.synonyms:
            res = self.resources[self.synonyms[name]]
        return res

    def navigation_target(self, resource: str, name: str) -> str | None:
        res = self.resolve(resource)
        return res.navigation.get(name) if res else None

    def __getitem__(self, name: str) -> Resource:
        return self.resources[name]


def _graph() -> dict:
    return json.loads(resources.files("proxy.data").joinpath("resource-graph.json").read_text())


def _merge_cloud(base: dict, cloud: dict) -> dict:
    """open-balena's complete v7 plus what the SDK typings show balenaCloud has in addition.

    Unlike ``proxy.schema.graph.v7_graph`` (the engine's view), only real columns join ``key_order``: a cloud
    synonym navigation such as ``image_install.image`` is a name, not a column, and must not appear in rows."""
    merged = json.loads(json.dumps(base))
    for name, spec in cloud.items():
        if name not in merged:
            cols = list(spec["fields"])
            if "created_at" in cols and "modified_at" not in cols:
                cols.insert(cols.index("created_at") + 1, "modified_at")
            fields = dict(spec["fields"])
            fields.setdefault("modified_at", "Date Time")
            for nav in spec["navigation"]:
                if nav not in spec.get("many", []) and nav not in cols:
                    cols.append(nav)
            merged[name] = {
                "fields": fields,
                "navigation": dict(spec["navigation"]),
                "many": list(spec.get("many", [])),
                "key_order": cols,
            }
            continue
        target = merged[name]
        for fname, ftype in spec["fields"].items():
            if fname not in target["fields"]:
                target["fields"][fname] = ftype
                target["key_order"].append(fname)
        for nav, tgt in spec["navigation"].items():
            if nav not in target["navigation"]:
                target["navigation"][nav] = tgt
                if nav in spec.get("many", []):
                    target["many"].append(nav)
                else:
                    target["key_order"].append(nav)
    return merged


@lru_cache(maxsize=4)
def load_model(flavour: str = "balena-cloud") -> Model:
    """Build the model of one flavour (``balena-cloud`` by default, or ``open-balena``)."""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}")
    graph = _graph()
    spec_all = graph["open_balena_v7"]
    if flavour == "balena-cloud":
        spec_all = _merge_cloud(spec_all, graph["balena_cloud_v7_from_sdk_typings"])
    res_map: dict[str, Resource] = {}
    for name, spec in spec_all.items():
        res_map[name] = Resource(
            name=name,
            fields=dict(spec["fields"]),
            key_order=list(spec["key_order"]),
            navigation=dict(spec["navigation"]),
            many=set(spec.get("many", [])),
            aliases=list(spec.get("aliases", [])),
        )
    _link(res_map)
    return Model(res_map, flavour)


def _fk_columns(res: Resource) -> dict[str, str]:
    """FK columns of a resource -> the resource each points at."""
    return {c: res.navigation[c] for c in res.key_order if c in res.navigation and c not in res.many}


def _link(res_map: dict[str, Resource]) -> None:
    for res in res_map.values():
        fks = _fk_columns(res)
        for nav, target in res.navigation.items():
            if nav in res.many:
                continue
            if nav in fks:
                res.fk_column[nav] = nav
                continue
            candidates = [c for c, t in fks.items() if t == target]
            if len(candidates) == 1:
                res.fk_column[nav] = candidates[0]
            elif res.name == "user__has_direct_access_to__application":
                res.fk_column[nav] = "user" if target == "user" else "has_direct_access_to__application"
        for nav in res.many:
            target = res.navigation[nav]
            tres = res_map.get(target)
            if tres is None:
                continue
            explicit = REVERSE_COLUMNS.get((res.name, nav))
            if explicit and explicit in tres.key_order:
                res.back_column[nav] = explicit
                continue
            candidates = [c for c, t in _fk_columns(tres).items() if t == res.name]
            if len(candidates) == 1:
                res.back_column[nav] = candidates[0]
            elif res.name in candidates:
                res.back_column[nav] = res.name
