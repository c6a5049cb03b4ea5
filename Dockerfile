# syntax=docker/dockerfile:1
# docker build -t siprec-control .   (README: "Running in production" › Docker)
# test/system/dockerfile.test.ts runs these steps in a clean copy of the repository, so keep to the
# instructions it knows: FROM, WORKDIR, COPY, RUN, ENV, VOLUME, USER, EXPOSE, HEALTHCHECK, CMD.

# --- build: every dependency, the TypeScript compiler, better-sqlite3 compiled for this image ----
FROM node:20-bookworm-slim AS build
# node-gyp's toolchain: better-sqlite3 compiles from source where no prebuilt binary fits.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci's postinstall applies patches/ (a fix postgres.js has not released yet: see the patch).
COPY patches ./patches
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# --- runtime: production dependencies and the build; no compiler, no dev dependency -------------
FROM node:20-bookworm-slim AS runtime
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
COPY public ./public
# The ledger lives on the volume, writable by the image's unprivileged user "node" (uid 1000).
RUN mkdir -p /data && chown node:node /data
ENV DATABASE_PATH=/data/siprec-control.sqlite \
    HOST=0.0.0.0 \
    PORT=3000
VOLUME ["/data"]
USER node
EXPOSE 3000
# Ready means the ledger takes a write lock; node's fetch, as the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/readyz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself as PID 1, not npm: SIGTERM from docker stop reaches the server, which drains and exits 0.
CMD ["node", "dist/main.js"]
