// Runs balena-sdk (JavaScript, 19.x: the last v6 generation) calls against the proxy; prints JSON results.
// Usage: node js_driver.js '<json>' with {"apiUrl": ..., "token": ..., "calls": [["models.device.get", [args]]]}
const { getSdk } = require('balena-sdk');

async function main() {
  const spec = JSON.parse(process.argv[2]);
  const sdk = getSdk({ apiUrl: spec.apiUrl, dataDirectory: false, isBrowser: false });
  await sdk.auth.loginWithToken(spec.token);
  const results = [];
  for (const [path, args] of spec.calls) {
    const parts = path.split('.');
    let owner = sdk;
    for (const part of parts.slice(0, -1)) owner = owner[part];
    try {
      const value = await owner[parts[parts.length - 1]](...args);
      results.push({ ok: value === undefined ? null : value });
    } catch (err) {
      results.push({ error: err.name || 'Error', message: String(err.message || err) });
    }
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });
