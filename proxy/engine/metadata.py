"""``/v6/$metadata``: the server's document for the v6 model, generated from the derived v6 graph.

pinejs writes entity types in model order with SBVR term names in relationships; those facts are not in the
resource graph, so they are read from the bundled v7 ``$metadata`` document (package data, the server's own
v7 output): entity order, the v7 property lines of unchanged names, relationship role names and
multiplicities. Everything the translators change is regenerated from the v6 graph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from proxy.engine.keys import v6_key
from proxy.schema import v6schema as S
from proxy.schema.memo import per_schema
from proxy.schema.v6schema import ResourceInfo, V6Schema

_ENTITY = re.compile(r'\t\t\t\t\t<EntityType Name="([^"]+)">(.*?)</EntityType>', re.S)
_LINE = re.compile(r'<(Property|NavigationProperty) Name="([^"]+)"[^>]*/>')
_TO_ROLE = re.compile(r'ToRole="([^"]+)"')
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

Association = tuple[str, str, str, str]  # (entity, role, multiplicity, v6 name)


@dataclass(frozen=True)
class _V7Document:
    """What the bundled v7 document says that the graph does not."""

    text: str
    entities: dict[str, str]  # XML entity name → its body
    order: list[str]  # XML entity names in model order
    multiplicity: dict[str, str]  # association name → multiplicity of its first end


@lru_cache(maxsize=1)
def _v7_document() -> _V7Document:
    text = resources.files("proxy.data").joinpath("v7-metadata.xml").read_text(encoding="utf-8")
    entities = {m.group(1): m.group(2) for m in _ENTITY.finditer(text)}
    multiplicity = {m.group(1): m.group(3) for m in _ASSOC.finditer(text)}
    return _V7Document(text, entities, list(entities), multiplicity)


def _edm(graph_type: str) -> tuple[str, str]:
    base, _, null = graph_type.partition(" | ")
    return _EDM.get(base, "Edm.String"), "true" if null == "null" or "| null" in graph_type else "false"


def _assoc_name(entity: str, role: str) -> str:
    return entity + role.replace("-", "__").replace(" ", "_")


def metadata_document(schema: V6Schema, namespace: str = "v6") -> str:
    """The document (generated once per schema and namespace)."""
    documents = _documents(schema)
    if namespace not in documents:
        documents[namespace] = _generate(schema, namespace)
    return documents[namespace]


@per_schema
def _documents(schema: V6Schema) -> dict[str, str]:
    return {}


@dataclass
class _Names:
    """How the v7 document's entity names relate to the schema's resources."""

    graph_of: dict[str, str]  # XML entity name → graph resource (pinejs names some by their fact-type alias)
    term_of: dict[str, str]  # graph resource → its term (role) name in relationships
    entities: list[tuple[str, str]] = field(default_factory=list)  # v6 entities in order: (XML name, resource)

    def xml_name_of(self, res: str, v7_order: list[str]) -> str:
        for name in v7_order:
            if self.graph_of.get(name) == res:
                return name
        return res


def _names(schema: V6Schema, doc: _V7Document) -> _Names:
    graph_of: dict[str, str] = {}
    for name in doc.order:
        if name in schema.v7graph:
            graph_of[name] = name
        else:
            for res, data in schema.v7graph.items():
                if name in data.get("aliases", []):
                    graph_of[name] = res
    # term (role) name of each target resource, learnt from the v7 relationships
    term_of: dict[str, str] = {}
    for name, body in doc.entities.items():
        owner = graph_of.get(name)
        for m in re.finditer(r'<NavigationProperty Name="([^"]+)"[^>]*ToRole="([^"]+)"', body):
            target = schema.v7graph.get(owner, {}).get("navigation", {}).get(m.group(1)) if owner else None
            if target:
                term_of.setdefault(target, m.group(2))
    for name in doc.order:
        if name in graph_of:
            term_of.setdefault(graph_of[name], name)
    names = _Names(graph_of, term_of)
    names.entities = _entity_order(schema, doc, graph_of)
    return names


def _entity_order(schema: V6Schema, doc: _V7Document, graph_of: dict[str, str]) -> list[tuple[str, str]]:
    """v7 order without v7-only resources, plus v6-only ones where translators place them."""
    v6_names: list[tuple[str, str]] = []  # (xml name, v6 resource)
    for name in doc.order:
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
    return v6_names


def _generate(schema: V6Schema, ns: str) -> str:
    doc = _v7_document()
    text = doc.text
    header = text[: text.index("\t\t\t\t\t<EntityType ")].replace('Namespace="v7"', f'Namespace="{ns}"')
    footer = text[text.index("\t\t\t\t\t</EntityContainer>") :]
    uses_webresource = any(t.startswith("WebResource") for res in schema.graph.values() for t in res["fields"].values())
    if not uses_webresource:
        footer = re.sub(r"<ComplexType Name=\"WebResource\">.*?</ComplexType>", "", footer, flags=re.S)
    names = _names(schema, doc)
    blocks: list[str] = []
    associations: list[Association] = []
    for xml_name, res in names.entities:
        block, links = _entity(schema, doc, names, xml_name, schema.resources[res], ns)
        blocks.append(block)
        associations.extend(links)
    return _assemble(header, blocks, associations, names.entities, footer, ns)


def _entity(
    schema: V6Schema, doc: _V7Document, names: _Names, xml_name: str, info: ResourceInfo, ns: str
) -> tuple[str, list[Association]]:
    """One ``EntityType`` block and the associations of its navigations."""
    v7xml = names.xml_name_of(info.v7, doc.order)
    v7_lines = {m.group(2): (m.group(1), m.group(0)) for m in _LINE.finditer(doc.entities.get(v7xml, ""))}
    graph = schema.graph[info.name]
    props: list[str] = []
    navs: list[str] = []
    associations: list[Association] = []
    for key in info.key_order:
        n = info.names.get(key)
        if n is None:
            continue
        regenerate = n.regenerated
        v7name = n.v7 or key
        if key in graph["fields"] and (regenerate or v7name not in v7_lines or v7_lines[v7name][0] != "Property"):
            edm, nullable = _edm(graph["fields"][key])
            props.append(f'<Property Name="{key}" Type="{edm}" Nullable="{nullable}" />')
            continue
        if v7name in v7_lines and not regenerate:
            kind, line = v7_lines[v7name]
            line = _renamed_line(line, v7name, key, v7xml, xml_name, ns)
            if kind == "Property":
                props.append(line)
            else:
                navs.append(line)
                found = _TO_ROLE.search(line)
                role = found.group(1) if found else ""
                associations.append((xml_name, role, doc.multiplicity.get(_assoc_name(v7xml, role), "1"), key))
            continue
        target = graph["navigation"].get(key)
        if target is not None and key not in graph.get("many", []):
            role = names.term_of.get(target, target)
            navs.append(
                f'<NavigationProperty Name="{key}" Relationship="{ns}.{xml_name}{role}" '
                f'FromRole="{xml_name}" ToRole="{role}" />'
            )
            associations.append((xml_name, role, "0..1" if n.kind == S.CONST else "1", key))
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
    return block, associations


def _renamed_line(line: str, v7name: str, key: str, v7xml: str, xml_name: str, ns: str) -> str:
    """A v7 property line of an unchanged name, under its v6 name, entity and namespace."""
    return (
        line.replace(f'Name="{v7name}"', f'Name="{key}"', 1)
        .replace(f'Relationship="v7.{v7xml}', f'Relationship="{ns}.{xml_name}')
        .replace(f'FromRole="{v7xml}"', f'FromRole="{xml_name}"')
    )


def _assemble(
    header: str,
    blocks: list[str],
    associations: list[Association],
    entities: list[tuple[str, str]],
    footer: str,
    ns: str,
) -> str:
    out = [header, "\n\n\n".join(blocks)]
    for entity, role, mult, _key in associations:
        name = _assoc_name(entity, role)
        out.append(
            f'<Association Name="{name}">\n\t<End Role="{entity}" Type="{ns}.{entity}" Multiplicity="{mult}" />\n'
            f'\t<End Role="{role}" Type="{ns}.{role}" Multiplicity="*" />\n</Association>\n'
        )
    out.append(f'\t\t\t\t\t<EntityContainer Name="{ns}Service" m:IsDefaultEntityContainer="true">\n\n\t\t\t\t\t')
    out.append("\n".join(f'<EntitySet Name="{x}" EntityType="{ns}.{x}" />' for x, _ in entities) + "\n")
    for entity, role, _mult, _key in associations:
        name = _assoc_name(entity, role)
        out.append(
            f'<AssociationSet Name="{name}" Association="{ns}.{name}">\n\t<End Role="{entity}" EntitySet="{ns}.{entity}" />\n'
            f'\t<End Role="{role}" EntitySet="{ns}.{role}" />\n\t\t\t\t\t\t\t\t</AssociationSet>\n'
        )
    out.append(footer)
    return "".join(out)
