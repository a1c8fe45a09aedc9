# syntax=docker/dockerfile:1
# Tapwire node agent image. Build from the repository root:
#   docker build -f deploy/docker/agent.Dockerfile -t ghcr.io/tapwire/node-agent:0.1.0 .
# (BuildKit reads agent.Dockerfile.dockerignore beside this file as the context's ignore list.)

# ---- build: libpcap headers + node-gyp toolchain for the `cap` binding -------------------------
FROM node:20.20.2-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap-dev python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Install scripts run here: `cap` compiles against libpcap with node-gyp.
RUN npm ci --no-audit --no-fund
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund \
 && mkdir -p /out \
 && cp package.json /out/ \
 && for d in libs/* apps/node-agent; do \
      mkdir -p "/out/$d" && cp "$d/package.json" "/out/$d/" \
      && if [ -d "$d/dist" ]; then cp -r "$d/dist" "/out/$d/dist"; fi; \
    done

# ---- runtime: slim image + the libpcap shared library, nothing else ----------------------------
FROM node:20.20.2-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap0.8 \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /out/ ./
COPY --from=build /src/node_modules ./node_modules
# Root on purpose, and not privileged: in Kubernetes the container gets only NET_RAW and
# NET_ADMIN (all else dropped), no privilege escalation and a read-only root filesystem. Added
# capabilities reach the effective set only for UID 0; see deploy/base/agent.yaml and
# docs/deploy.md ("Why root, and why not privileged").
USER root
EXPOSE 8897
ENTRYPOINT ["node", "apps/node-agent/dist/main.js"]
