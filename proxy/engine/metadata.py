"""``/v6/$metadata``: the server's document for the v6 model, generated from the derived v6 graph.

pinejs writes entity types in model order with SBVR term names in relationships; those facts are not in the
resource graph, so they are read from the bundled v7 ``$metadata`` document (package data, the server's own
v7 output): entity order, the v7 property lines of unchanged names, relationship role names and
multiplicities. Everything the translators change is regenerated from the v6 graph.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from proxy.engine.keys import v6_key
from proxy.schema.v6schema import V6Schema
from translators import Coerce, Constant, Derived, Unwrap

_ENTITY = re.compile(r'\t\t\t\t\t<EntityType Name="([^"]+)">(.*?)</EntityType>', re.S)
_LINE = re.compile(r'<(Property|NavigationProperty) Name="([^"]+)"[^>]*/>')
_ASSOC = re.compile(
    r'<Association Name="([^"]+)">\n\t<End Role="([^"]+)" Type="[^"]+" Multiplicity="([^"]+)" />\n'
    r'\t<End Role="([^"]+)" Type="[^"]+" Multiplicity="([^"]+)" />\n</Association>\n'
)
_EDM = {
    "Integer": "Edm.Int32",
    "Serial": "Edm.Int64",
    "Big Integer": "Edm.Int64",
    "Numeric Big Integer": "Edm.Int64",
    "Boolean": "Edm.Boolean",
    "Date Time": "Edm.DateTimeOffset",
}


@lru_cache(maxsize=1)
def _v7_document() -> str:
    return resources.files("proxy.data").joinpath("v7-metadata.xml").read_text(encoding="utf-8")


def _edm(graph_type: str) -> tuple[str, str]:
    base, _, null = graph_type.partition(" | ")
    return _EDM.get(base, "Edm.String"), "true" if null == "null" or "| null" in graph_type else "false"


def _assoc_name(entity: str, role: str) -> str:
    return entity + role.replace("-", "__").replace(" ", "_")


def metadata_document(schema: V6Schema, namespace: str = "v6") -> str:
    """The document (generated once per schema)."""
    cached = getattr(schema, "_metadata_document", None)
    if cached is None:
        cached = _generate(schema, namespace)
        schema._metadata_document = cached  # type: ignore[attr-defined]
    return cached


def _generate(schema: V6Schema, ns: str) -> str:
    doc = _v7_document()
    first = doc.index("\t\t\t\t\t<EntityType ")
    header = doc[:first].replace('Namespace="v7"', f'Namespace="{ns}"')
    tail_start = doc.index("\t\t\t\t\t</EntityContainer>")
    footer = doc[tail_start:]
    uses_webresource = any(t.startswith("WebResource") for res in schema.graph.values() for t in res["fields"].values())
    if not uses_webresource:
        footer = re.sub(r"<ComplexType Name=\"WebResource\">.*?</ComplexType>", "", footer, flags=re.S)
    v7_entities = {m.group(1): m.group(2) for m in _ENTITY.finditer(doc)}
    v7_order = list(v7_entities)
    multiplicity = {m.group(1): m.group(3) for m in _ASSOC.finditer(doc)}
    # XML entity name → graph resource (pinejs names some resources by their fact-type alias)
    graph_of: dict[str, str] = {}
    for name in v7_order:
        if name in schema.v7graph:
            graph_of[name] = name
        else:
            for res, data in schema.v7graph.items():
                if name in data.get("aliases", []):
                    graph_of[name] = res
    # term (role) name of each target resource, learnt from the v7 relationships
    term_of: dict[str, str] = {}
    for name, body in v7_entities.items():
        res = graph_of.get(name)
        for m in re.finditer(r'<NavigationProperty Name="([^"]+)"[^>]*ToRole="([^"]+)"', body):
            target = schema.v7graph.get(res, {}).get("navigation", {}).get(m.group(1)) if res else None
            if target:
                term_of.setdefault(target, m.group(2))
    for name in v7_order:
        if name in graph_of:
            term_of.setdefault(graph_of[name], name)
    # v6 entity order: v7 order without v7-only resources, plus v6-only ones where translators place them
    v6_names: list[tuple[str, str]] = []  # (xml name, v6 resource)
    for name in v7_order:
        res = graph_of.get(name, name)
        if res in schema.resources and schema.resources[res].v7 == res:
            v6_names.append((name, res))
    for res, info in schema.resources.items():
        merged = info.merged
        if merged is not None and (merged.local is not None or info.v7 != res):
            after = merged.metadata_after
            positions = [i for i, (_, r) in enumerate(v6_names) if r == after]
            pos = positions[-1] + 1 if positions else len(v6_names)
            v6_names.insert(pos, (res, res))
    placed = {r for _, r in v6_names}
    for res in schema.resources:  # e.g. balenaCloud-only resources the bundled v7 document lacks
        if res not in placed:
            v6_names.append((res, res))
    blocks: list[str] = []
    associations: list[tuple[str, str, str, str]] = []
    for xml_name, res in v6_names:
        info = schema.resources[res]
        v7_body = v7_entities.get(_xml_name_of(info.v7, v7_order, graph_of), "")
        v7_lines = {m.group(2): (m.group(1), m.group(0)) for m in _LINE.finditer(v7_body)}
        graph = schema.graph[res]
        rules = {getattr(r, "name", None): r for r in (info.merged.rules if info.merged else [])}
        props: list[str] = []
        navs: list[str] = []
        for key in info.key_order:
            n = info.names.get(key)
            if n is None:
                continue
            rule = rules.get(key)
            regenerate = isinstance(rule, (Constant, Derived, Unwrap)) or (
                isinstance(rule, Coerce) and rule.v6_type is not None
            )
            v7name = n.v7 or key
            if key in graph["fields"] and (regenerate or v7name not in v7_lines or v7_lines[v7name][0] != "Property"):
                edm, nullable = _edm(graph["fields"][key])
                props.append(f'<Property Name="{key}" Type="{edm}" Nullable="{nullable}" />')
                continue
            if v7name in v7_lines and not regenerate:
                kind, line = v7_lines[v7name]
                v7xml = _xml_name_of(info.v7, v7_order, graph_of)
                line = (
                    line.replace(f'Name="{v7name}"', f'Name="{key}"', 1)
                    .replace(f'Relationship="v7.{v7xml}', f'Relationship="{ns}.{xml_name}')
                    .replace(f'FromRole="{v7xml}"', f'FromRole="{xml_name}"')
                )
                if kind == "Property":
                    props.append(line)
                else:
                    navs.append(line)
                    role = re.search(r'ToRole="([^"]+)"', line).group(1)  # type: ignore[union-attr]
                    mult = multiplicity.get(_assoc_name(_xml_name_of(info.v7, v7_order, graph_of), role), "1")
                    associations.append((xml_name, role, mult, key))
                continue
            target = graph["navigation"].get(key)
            if target is not None and key not in graph.get("many", []):
                role = term_of.get(target, target)
                navs.append(
                    f'<NavigationProperty Name="{key}" Relationship="{ns}.{xml_name}{role}" '
                    f'FromRole="{xml_name}" ToRole="{role}" />'
                )
                associations.append((xml_name, role, "0..1" if isinstance(rule, Constant) else "1", key))
        entity_key = v6_key(schema, info)
        key_ref = f'<PropertyRef Name="{entity_key}" />' if entity_key else ""
        block = (
            f'\t\t\t\t\t<EntityType Name="{xml_name}">\n\t\t\t\t\t\t<Key>\n\t\t\t\t\t\t\t{key_ref}\n'
            f"\t\t\t\t\t\t</Key>\n\n\t\t\t\t\t\t"
            + "\n".join(props)
            + "\n"
            + "\n".join(navs)
            + "\n\n\t\t\t\t\t</EntityType>"
        )
        blocks.append(block)
    out = [header, "\n\n\n".join(blocks)]
    for entity, role, mult, _key in associations:
        name = _assoc_name(entity, role)
        out.append(
            f'<Association Name="{name}">\n\t<End Role="{entity}" Type="{ns}.{entity}" Multiplicity="{mult}" />\n'
            f'\t<End Role="{role}" Type="{ns}.{role}" Multiplicity="*" />\n</Association>\n'
        )
    out.append(f'\t\t\t\t\t<EntityContainer Name="{ns}Service" m:IsDefaultEntityContainer="true">\n\n\t\t\t\t\t')
    out.append("\n".join(f'<EntitySet Name="{x}" EntityType="{ns}.{x}" />' for x, _ in v6_names) + "\n")
    for entity, role, _mult, _key in associations:
        name = _assoc_name(entity, role)
        out.append(
            f'<AssociationSet Name="{name}" Association="{ns}.{name}">\n\t<End Role="{entity}" EntitySet="{ns}.{entity}" />\n'
            f'\t<End Role="{role}" EntitySet="{ns}.{role}" />\n\t\t\t\t\t\t\t\t</AssociationSet>\n'
        )
    out.append(footer)
    return "".join(out)


def _xml_name_of(res: str, v7_order: list[str], graph_of: dict[str, str]) -> str:
    for name in v7_order:
        if graph_of.get(name) == res:
            return name
    return res
