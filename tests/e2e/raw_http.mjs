// Raw HTTP/1.1 helpers shared by the suites that talk to chroma-ha over plain sockets.
import assert from 'node:assert/strict';

// Parses the first HTTP/1.1 response in `buf` (status line, headers, Content-Length body).
export function parseResponse(buf) {
  const raw = buf.toString('latin1');
  const head = raw.indexOf('\r\n\r\n');
  if (head < 0) return { status: undefined, headers: {}, body: '', json: undefined, raw };
  const lines = raw.slice(0, head).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = raw.slice(head + 4);
  if (headers['content-length'] !== undefined) body = body.slice(0, Number(headers['content-length']));
  let json;
  try {
    json = JSON.parse(Buffer.from(body, 'latin1').toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: m ? Number(m[1]) : undefined, headers, body, json, raw };
}

export function assertJsonError(res, what) {
  assert.ok(res.json && typeof res.json === 'object', `${what}: body is JSON: ${JSON.stringify(res.raw)}`);
  assert.equal(typeof res.json.error, 'string', `${what}: "error" is a string: ${res.body}`);
  assert.equal(typeof res.json.message, 'string', `${what}: "message" is a string: ${res.body}`);
}
