"""Run ISO Schematron rule files (queryBinding xslt2) on XML documents, with Saxon (saxonche).

The official Peppol BIS Billing 3.0 rules are two Schematron files published by
OpenPEPPOL (https://github.com/OpenPEPPOL/peppol-bis-invoice-3, folder rules/sch):
CEN-EN16931-UBL.sch (the EN 16931 rules of CEN/TC 434) and PEPPOL-EN16931-UBL.sch (the
Peppol rules, with the Norwegian NO-R-* rules). They are not bundled with Ladeflyt: point
LADEFLYT_EHF_RULES_DIR at a copy of that folder.

A Schematron file is turned into an XSLT 2.0 stylesheet here (the usual way to run it):
each pattern is a mode; in a pattern, a node is checked by the first rule whose context
matches it (rules get falling priorities); `let`s become variables, the XSLT functions of
the schema are copied over, and every failed `assert` / successful `report` becomes an
SVRL element with the rule's id, flag and the node's path. Phases are not used: every
pattern runs (as the default phase #ALL does).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

SCH = "http://purl.oclc.org/dsdl/schematron"
XSL = "http://www.w3.org/1999/XSL/Transform"
SVRL = "http://purl.oclc.org/dsdl/svrl"


@dataclass(frozen=True)
class Finding:
    rule_id: str
    flag: str  # fatal | warning | information (the schema's word; "" means fatal)
    message: str
    location: str
    source: str = ""  # which rule file

    @property
    def fatal(self) -> bool:
        return self.flag in ("", "fatal", "error")

    def __str__(self) -> str:
        return f"[{self.rule_id}] {self.message}"


def _q(tag: str) -> str:
    return tag.split("}", 1)[-1]


def _attr(value: str) -> str:
    return (
        value.replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", "&#10;")
    )


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _message(node: ET.Element) -> str:
    """The assertion's text as XSLT: text, <name/> and <value-of select=.../>."""
    out = [_text(node.text or "")]
    for child in node:
        name = _q(child.tag)
        if name == "name":
            path = child.get("path", ".")
            out.append(f'<xsl:value-of select="name({_attr(path)})"/>')
        elif name == "value-of":
            out.append(f'<xsl:value-of select="{_attr(child.get("select", ""))}"/>')
        else:
            out.append(_text("".join(child.itertext())))
        out.append(_text(child.tail or ""))
    return "".join(out).strip()


def _let(node: ET.Element) -> str:
    name = node.get("name", "")
    if node.get("value") is not None:
        return f'<xsl:variable name="{name}" select="{_attr(node.get("value", ""))}"/>'
    body = ET.tostring(node, encoding="unicode").split(">", 1)[1].rsplit("<", 1)[0]
    return f'<xsl:variable name="{name}">{body}</xsl:variable>'


def compile_schematron(source: str | bytes) -> str:
    """An XSLT 2.0 stylesheet that checks what the Schematron schema says."""
    root = ET.fromstring(source)
    if _q(root.tag) != "schema":
        raise ValueError("not a Schematron schema")
    namespaces = {"xsl": XSL, "svrl": SVRL, "xs": "http://www.w3.org/2001/XMLSchema"}
    for ns in root.iter(f"{{{SCH}}}ns"):
        namespaces[ns.get("prefix", "")] = ns.get("uri", "")
    declarations = " ".join(f'xmlns:{p}="{_attr(u)}"' for p, u in namespaces.items() if p)
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<xsl:stylesheet version="2.0" {declarations} exclude-result-prefixes="#all">',
        '<xsl:output method="xml" indent="no"/>',
    ]
    body: list[str] = []
    for child in root:
        if not isinstance(child.tag, str):
            continue
        if child.tag.startswith(f"{{{XSL}}}"):
            text = ET.tostring(child, encoding="unicode")
            body.append(text)
        elif _q(child.tag) == "let":
            body.append(_let(child))
    patterns = [p for p in root if isinstance(p.tag, str) and _q(p.tag) == "pattern"]
    driver = ['<xsl:template match="/">', "<svrl:schematron-output>"]
    for i, pattern in enumerate(patterns):
        mode = f"p{i}"
        driver.append(f'<xsl:apply-templates select="/" mode="{mode}"/>')
        for let in pattern:
            if isinstance(let.tag, str) and _q(let.tag) == "let":
                body.append(_let(let))
        rules = [r for r in pattern if isinstance(r.tag, str) and _q(r.tag) == "rule"]
        for j, rule in enumerate(rules):
            parts = [
                f'<xsl:template match="{_attr(rule.get("context", ""))}" mode="{mode}" '
                f'priority="{len(rules) - j + 1}">'
            ]
            for item in rule:
                if not isinstance(item.tag, str):
                    continue
                kind = _q(item.tag)
                if kind == "let":
                    parts.append(_let(item))
                elif kind in ("assert", "report"):
                    test = _attr(item.get("test", "true()"))
                    cond = f"not({test})" if kind == "assert" else test
                    element = "failed-assert" if kind == "assert" else "successful-report"
                    parts.append(
                        f'<xsl:if test="{cond}"><svrl:{element} '
                        f'id="{_attr(item.get("id", ""))}" flag="{_attr(item.get("flag", ""))}">'
                        '<xsl:attribute name="location" select="path()"/>'
                        f"<svrl:text>{_message(item)}</svrl:text></svrl:{element}></xsl:if>"
                    )
            parts.append(f'<xsl:apply-templates select="@*|node()" mode="{mode}"/>')
            parts.append("</xsl:template>")
            body.extend(parts)
        body.append(
            f'<xsl:template match="/|@*|node()" mode="{mode}" priority="-10">'
            f'<xsl:apply-templates select="@*|node()" mode="{mode}"/></xsl:template>'
        )
    driver += ["</svrl:schematron-output>", "</xsl:template>"]
    return "\n".join([*head, *body, *driver, "</xsl:stylesheet>"]) + "\n"


def parse_svrl(text: str, source: str = "") -> list[Finding]:
    out = []
    root = ET.fromstring(text)
    for node in root:
        kind = _q(node.tag)
        if kind not in ("failed-assert", "successful-report"):
            continue
        message = " ".join("".join(node.itertext()).split())
        out.append(
            Finding(
                rule_id=node.get("id", ""),
                flag=node.get("flag", ""),
                message=message,
                location=node.get("location", ""),
                source=source,
            )
        )
    return out


class SchematronRunner:
    """Compiled rule files, run with Saxon on one thread of their own (SaxonC is not to be
    shared between threads)."""

    def __init__(self, files: list[Path]) -> None:
        if not files:
            raise ValueError("no Schematron files given")
        self.files = files
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="schematron")
        self._compiled: list[tuple[str, Any]] | None = None
        self._processor: Any = None
        self._lock = threading.Lock()

    def _load(self) -> list[tuple[str, Any]]:
        if self._compiled is None:
            from saxonche import PySaxonProcessor

            self._processor = PySaxonProcessor(license=False)
            xslt = self._processor.new_xslt30_processor()
            compiled = []
            for path in self.files:
                stylesheet = compile_schematron(path.read_bytes())
                compiled.append((path.name, xslt.compile_stylesheet(stylesheet_text=stylesheet)))
            self._compiled = compiled
        return self._compiled

    def _run(self, xml: bytes) -> list[Finding]:
        findings: list[Finding] = []
        compiled = self._load()
        document = self._processor.parse_xml(xml_text=xml.decode("utf-8"))
        for name, executable in compiled:
            output = executable.transform_to_string(xdm_node=document)
            findings.extend(parse_svrl(output, name))
        return findings

    def validate(self, xml: bytes) -> list[Finding]:
        """Every finding of every rule file (fatal ones and warnings)."""
        with self._lock:
            return self._executor.submit(self._run, xml).result()

    def close(self) -> None:
        self._executor.shutdown(wait=False)


def rule_files(directory: str | Path) -> list[Path]:
    """The UBL rule files in a copy of OpenPEPPOL's rules/sch folder (CEN first)."""
    folder = Path(directory)
    found = sorted(folder.glob("*UBL*.sch"), key=lambda p: (not p.name.startswith("CEN"), p.name))
    if not found:
        raise FileNotFoundError(f"no *UBL*.sch rule files in {folder}")
    return found
