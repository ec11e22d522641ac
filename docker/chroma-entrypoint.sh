#!/bin/sh
# Starts the Chroma server of docker/chroma.Dockerfile: port from $PORT (default 8000), data in
# /data. Started as root only to make a freshly mounted disk (Render disk, Docker volume) writable
# for the unprivileged `node` user; the server itself never runs as root.
set -eu

export CHROMA_PORT="${PORT:-8000}"

if [ "$(id -u)" = 0 ]; then
  mkdir -p /data
  if [ "$(stat -c %U /data)" != node ]; then
    chown node:node /data
  fi
  exec setpriv --reuid=node --regid=node --init-groups -- "$0" "$@"
fi

exec /opt/chroma/node_modules/.bin/chroma run /etc/chroma/config.yaml "$@"
