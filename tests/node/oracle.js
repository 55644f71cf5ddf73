// The real server URL parser as a line-oriented oracle for the Python tests (tests/odata_node.py).
// stdin: one JSON object per line:
//   {"url": "/device?..."}               what the server parses: pinejs's alias step, then the parser
//   {"url": "/device?...", "raw": true}  the parser alone on the raw text (@balena/odata-parser `parse`)
//   {"expr": "a eq 1"}                   a bare $filter expression (the value of $filter on a dummy resource)
// stdout: one JSON line per request:
// {"accepted": true, "parse": {tree, binds}} or {"accepted": false, "kind": "SyntaxError"|"URIError"|..., "error": msg}
'use strict';
const readline = require('readline');
const ODataParser = require('@balena/odata-parser');

// pinejs 24.1.0 src/sbvr-api/uri-parser.ts `memoizedParseOdata`, minus its cache and the canAccess
// rename (which only touches the resource name of `.../canAccess` actions): when a URL may define
// parameter aliases, the query is read with URLSearchParams, the `@` entries are taken out, and the
// rest is parsed after `decodeURIComponent(params.toString())`; the aliases are parsed the same way
// with the QueryOptions rule and set on the tree's options.
function pinejsParse(url) {
	const queryParamsIndex = url.indexOf('?');
	if (queryParamsIndex !== -1 && /[?&(]@/.test(url)) {
		const parameterAliases = new URLSearchParams();
		const queryParams = new URLSearchParams(url.slice(queryParamsIndex));
		for (const [key, value] of Array.from(queryParams.entries())) {
			if (key.startsWith('@')) {
				parameterAliases.append(key, value);
				queryParams.delete(key);
			}
		}
		const parameterAliasesString = parameterAliases.toString();
		if (parameterAliasesString !== '') {
			const parsed = ODataParser.parse(
				url.slice(0, queryParamsIndex) + '?' + decodeURIComponent(queryParams.toString()),
			);
			const parsedParams = ODataParser.parse(decodeURIComponent(parameterAliasesString), {
				startRule: 'ProcessRule',
				rule: 'QueryOptions',
			});
			parsed.tree.options ??= {};
			for (const key of Object.keys(parsedParams.tree)) {
				parsed.tree.options[key] = parsedParams.tree[key];
				parsed.binds[key] = parsedParams.binds[key];
			}
			return parsed;
		}
	}
	return ODataParser.parse(url);
}

function handle(req) {
	try {
		if (req.expr !== undefined) {
			const result = ODataParser.parse('/x?$filter=' + req.expr);
			return { accepted: true, parse: { tree: result.tree.options.$filter, binds: result.binds } };
		}
		return { accepted: true, parse: req.raw ? ODataParser.parse(req.url) : pinejsParse(req.url) };
	} catch (e) {
		return { accepted: false, kind: e && e.name, error: String(e && e.message) };
	}
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', (line) => {
	if (!line.trim()) return;
	let out;
	try {
		out = handle(JSON.parse(line));
	} catch (e) {
		out = { accepted: false, kind: 'OracleError', error: String(e) };
	}
	process.stdout.write(JSON.stringify(out) + '\n');
});
