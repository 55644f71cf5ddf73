// The real server URL parser as a line-oriented oracle for the Python tests (tests/odata_node.py).
// stdin: one JSON object per line {"url": "/device?..."} (or {"expr": "a eq 1"} for a bare $filter
// expression, parsed as the value of $filter on a dummy resource); stdout: one JSON line per request:
// {"accepted": true, "parse": {tree, binds}} or {"accepted": false, "kind": "SyntaxError"|"URIError"|..., "error": msg}
'use strict';
const readline = require('readline');
const { parse } = require('@balena/odata-parser');

function handle(req) {
	const url = req.url !== undefined ? req.url : '/x?$filter=' + req.expr;
	try {
		const result = parse(url);
		if (req.expr !== undefined) {
			return { accepted: true, parse: { tree: result.tree.options.$filter, binds: result.binds } };
		}
		return { accepted: true, parse: result };
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
