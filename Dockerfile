# Baton operator image: Node 24 on Debian slim, non-root, works with a read-only root file system.
# The image runs JavaScript emitted by tsc: Node could run the TypeScript directly, but its type stripper stays
# resident (about 30 MiB of RSS) for the life of the process.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# tsc run by the image's own Node: with scripts off, the `node` devDependency that npm scripts would put first on
# PATH has no binary.
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; the `node` devDependency (Node for developers' machines) is not needed here.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
# git is used to check pull-request refs before a run is created.
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
# V8 sizes its heap for the machine, not the container: left alone it grows a 16 MiB young generation and lets
# the old generation swell to hundreds of MiB of garbage before collecting (745 MiB RSS with 10,000 PipelineRuns
# cached). A 1 MiB semi-space and a 128 MiB old generation keep it near what is live (about 70 MiB then), with
# room for several times as many runs; bench/memory.ts measures the operator with exactly these options.
ENV NODE_ENV=production \
    NODE_OPTIONS="--disable-warning=ExperimentalWarning --max-semi-space-size=1 --max-old-space-size=128" \
    HOME=/tmp
USER 65532:65532
# The defaults of src/runtime/config.ts: metrics and health (8080), webhook intake (8090).
EXPOSE 8080 8090
ENTRYPOINT ["node", "dist/main.js"]
