# syntax=docker/dockerfile:1
# Tapwire hub image. Build from the repository root:
#   docker build -f deploy/docker/hub.Dockerfile -t ghcr.io/tapwire/hub:0.1.0 .
# (BuildKit reads hub.Dockerfile.dockerignore beside this file as the context's ignore list.)

# ---- build: full toolchain, every workspace, dev dependencies --------------------------------
FROM node:20.20.2-bookworm AS build
WORKDIR /src
COPY . .
# The hub needs no native module: skip install scripts (cap's node-gyp build among them).
RUN npm ci --ignore-scripts --no-audit --no-fund
RUN npm run build
# Keep production dependencies only, then collect what runs: package.json + dist of the hub and
# of every library (the workspace symlinks in node_modules/@tapwire point at them).
RUN npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && mkdir -p /out \
 && cp package.json /out/ \
 && for d in libs/* apps/hub; do \
      mkdir -p "/out/$d" && cp "$d/package.json" "/out/$d/" \
      && if [ -d "$d/dist" ]; then cp -r "$d/dist" "/out/$d/dist"; fi; \
    done

# ---- runtime: slim image, no compiler, no npm work at run time --------------------------------
FROM node:20.20.2-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /out/ ./
COPY --from=build /src/node_modules ./node_modules
# Non-root: the image's `node` user (UID 1000), matching runAsUser in deploy/base/hub.yaml.
USER node
EXPOSE 8898
ENTRYPOINT ["node", "apps/hub/dist/main.js"]
