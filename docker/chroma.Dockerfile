# Chroma 1.x server for chroma-ha's primary and replica (render.yaml, docker/docker-compose.yml).
#
#   docker build -f docker/chroma.Dockerfile -t chroma-server .     (context: the repo root)
#
# Pinned like the test servers (see README "Node.js version"): npm chromadb 3.5.0, whose `chroma`
# CLI runs the Rust server from chromadb-js-bindings-linux-x64-gnu, pinned to 1.0.5 by the
# "overrides" entry of package.json (newer bindings need glibc 2.38; bookworm has 2.36). The
# versions come from the repo's package.json and package-lock.json (`npm ci`).
FROM node:20-bookworm-slim

WORKDIR /opt/chroma
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund \
    && npm cache clean --force \
    && test "$(node -p 'require("./node_modules/chromadb/package.json").version')" = 3.5.0 \
    && test "$(node -p 'require("./node_modules/chromadb-js-bindings-linux-x64-gnu/package.json").version')" = 1.0.5

COPY docker/chroma-config.yaml /etc/chroma/config.yaml
COPY docker/chroma-entrypoint.sh /usr/local/bin/chroma-entrypoint
RUN chmod 0755 /usr/local/bin/chroma-entrypoint && install -d -o node -g node /data

ENV PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/api/v2/heartbeat').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["chroma-entrypoint"]
