// Parses LogQL / TraceQL expressions with the grammars of Grafana's own query editors
// (@grafana/lezer-logql, @grafana/lezer-traceql) and reports every syntax error.
//
//   node lezer-check.mjs <queries.json>
//
// Input: a JSON array of {"id": "...", "lang": "logql" | "traceql", "query": "..."}.
// Output (stdout): a JSON array of {"id", "lang", "ok", "top", "errors": [{"from", "to", "near"}],
// "names": [{"kind", "name"}]}: the names the query uses, from the syntax tree —
//   logql:   "selector" (a stream selector's label), "filter" (a label filter after a pipe),
//            "grouping" (by/without), "unwrap", "template" (the string of line_format /
//            label_format: its {{.name}} references are the caller's to read);
//   traceql: "span" / "resource" / "unscoped" attribute names ("intrinsic" for name, status, ...).
// Exit status 0 when the input was read (the caller judges the results), 2 on bad input.
// The parsers are error-tolerant: a broken query still yields a tree, with error nodes (⚠)
// where the grammar could not go on; a query is accepted only with none.
import { readFileSync } from "node:fs";
import { parser as logql } from "@grafana/lezer-logql";
import { parser as traceql } from "@grafana/lezer-traceql";

const file = process.argv[2];
if (!file) {
  console.error("usage: node lezer-check.mjs <queries.json>");
  process.exit(2);
}
const items = JSON.parse(readFileSync(file, "utf8"));
const parsers = { logql, traceql };
const out = [];
for (const { id, lang, query } of items) {
  const p = parsers[lang];
  if (!p) {
    console.error(`${id}: unknown language ${lang}`);
    process.exit(2);
  }
  const errors = [];
  const names = [];
  let top = null;
  if (query.trim() === "") {
    errors.push({ from: 0, to: 0, near: "(empty query)" });
  } else {
    const tree = p.parse(query);
    top = tree.topNode.firstChild ? tree.topNode.firstChild.name : null;
    tree.iterate({
      enter(node) {
        if (node.type.isError) {
          errors.push({ from: node.from, to: node.to, near: query.slice(Math.max(0, node.from - 15), node.to + 15) });
        }
        const text = query.slice(node.from, node.to);
        if (lang === "logql") {
          if (node.name === "Identifier") {
            const up = ancestors(node.node);
            let kind = null;
            if (up.includes("UnwrapExpr")) kind = "unwrap";
            else if (up.includes("Grouping")) kind = "grouping";
            else if (up.includes("Selector")) kind = "selector";
            else if (up.includes("LabelFilter")) kind = "filter";
            if (kind) names.push({ kind, name: text });
          } else if (node.name === "String") {
            const parent = node.node.parent && node.node.parent.name;
            if (parent === "LineFormatExpr" || parent === "LabelFormatMatcher") names.push({ kind: "template", name: text });
          }
        } else if (node.name === "AttributeField") {
          const scope = node.node.firstChild;
          const ident = node.node.getChild("Identifier");
          const kind = scope && (scope.name === "Span" || scope.name === "Resource") ? scope.name.toLowerCase() : "unscoped";
          names.push({ kind, name: ident ? query.slice(ident.from, ident.to) : text });
        } else if (node.name === "IntrinsicField") {
          names.push({ kind: "intrinsic", name: text });
        }
      },
    });
  }
  out.push({ id, lang, ok: errors.length === 0, top, errors, names });
}
process.stdout.write(JSON.stringify(out));

function ancestors(n) {
  const out = [];
  for (let p = n.parent; p; p = p.parent) out.push(p.name);
  return out;
}
