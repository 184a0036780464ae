# The onboarding server as one image: Node 24 runs the TypeScript sources directly (type
# stripping), so there is no build stage. docker-compose.yml runs three of these behind HAProxy.
FROM node:24-bookworm-slim

ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/data

WORKDIR /app

# Dependencies first, so code edits do not invalidate this layer. `npm install` rather than
# `npm ci`: the lock file lacks some other-platform optional binaries and `npm ci` rejects that.
# --ignore-scripts skips our postinstall (it bootstraps Node 24 on old machines; this image has it).
COPY package.json package-lock.json ./
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force

# Everything else: .dockerignore lets only the runtime sources through (server/, actors/,
# shared/, client/), so local node_modules, caches, data, tests and any .env with secrets stay out.
# The code stays owned by root: the server has no business rewriting itself.
COPY . .

# The only place the server writes (SQLite in embedded mode, local files such as logos). A named
# volume mounted here starts with this ownership.
RUN mkdir -p /data && chown node:node /data

USER node
EXPOSE 3000

# Liveness only; readiness (/readyz) is the load balancer's business. The slim image has no curl,
# so Node's fetch does the probe.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

CMD ["node", "server/main.ts"]
