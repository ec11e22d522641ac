// The fixed fast upstream and the reference proxy of the proxy benchmarks (bench/suite.mjs parts
// proxy, proxy2 and tls; bench/proxy_ab.mjs): nginx answering fixed JSON, and HAProxy splitting
// reads (GET, HEAD, POST …/get, …/query) to the replica and the rest to the primary.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const UUID = '3f1c8a52-9d7e-4b1a-8c2f-5e6d7a8b9c0d';
export const FAKE_BODY = JSON.stringify({
  'nanosecond heartbeat': 1727000000000000000,
  ids: [['id-1', 'id-2', 'id-3']],
  documents: [['a small document', 'another small document', 'a third one']],
  metadatas: [[{ n: 1 }, { n: 2 }, { n: 3 }]],
  include: ['documents', 'metadatas'],
  pad: 'x'.repeat(60),
});
export const LISTING = JSON.stringify([
  { id: UUID, name: 'c1', tenant: 't', database: 'd', metadata: null, configuration_json: {}, dimension: null, log_position: 0, version: 0 },
]);

export function nginxCommon(dir, name, workers) {
  const tmp = path.join(dir, `${name}-tmp`);
  fs.mkdirSync(tmp, { recursive: true, mode: 0o777 });
  fs.chmodSync(tmp, 0o777);
  return `worker_processes ${workers};
daemon off;
master_process on;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}-error.log warn;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
`;
}
export const nginxHttpCommon = (dir, name) => `  access_log off;
  client_body_temp_path ${dir}/${name}-tmp/body;
  proxy_temp_path ${dir}/${name}-tmp/proxy;
  client_body_buffer_size 64k;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
`;

// The fake upstream: nginx with one worker answering on `ports`.
export function fakeUpstreamConf(dir, name, ports) {
  const conf = path.join(dir, `${name}.conf`);
  fs.writeFileSync(
    conf,
    `${nginxCommon(dir, name, 1)}http {
${nginxHttpCommon(dir, name)}  default_type application/json;
  server {
${ports.map((p) => `    listen 127.0.0.1:${p};\n`).join('')}    location = /api/v2/tenants/t/databases/d/collections { return 200 '${LISTING}'; }
    location / { return 200 '${FAKE_BODY}'; }
  }
}
`,
  );
  return conf;
}

// HAProxy 2.x as a read/write-splitting reverse proxy on `port` with upstream keep-alive
// (`http-reuse always`), `nbthread` = cores; writes its configuration into `dir` and returns the
// file's path.
export function haproxyConf(dir, name, port, primaryPort, replicaPort) {
  const conf = path.join(dir, `${name}.cfg`);
  fs.writeFileSync(
    conf,
    `global
  nbthread ${os.cpus().length}
  maxconn 8192
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend chroma
  bind 127.0.0.1:${port}
  acl read_method method GET HEAD
  acl read_post path_end /get /query
  use_backend replica if read_method || read_post
  default_backend primary
backend primary
  server primary 127.0.0.1:${primaryPort} maxconn 1000
backend replica
  server replica 127.0.0.1:${replicaPort} maxconn 1000
`,
  );
  return conf;
}
