# map-delete-tracer as a container image (Debian 12 "bookworm", Node.js 20, x86-64).
#
#   docker build -t map-delete-tracer .
#   docker run --rm --pid=host --cap-drop=ALL --cap-add=BPF --cap-add=PERFMON \
#       --cap-add=SYS_ADMIN --cap-add=SYS_PTRACE map-delete-tracer watch --pid 4242
#
# The process runs as root inside the container because loading BPF programs and attaching
# uprobes are privileged operations, but the container is meant to get only the capabilities
# above, never --privileged. CAP_SYS_ADMIN is there because current kernels require it to
# create a uprobe (the fix for CVE-2025-38466); docker-compose.yml says what each one is for and
# docs/docker-compose.md how to check them. Needs Docker Engine 23.0 or newer (older engines
# reject the names BPF and PERFMON).
#
# Stages: `deps` (production node_modules), `build` (BPF object, N-API addon, TypeScript), and
# the runtime image, which holds only what runs.

ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---- production node_modules ------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the root "prepare" script would run the whole build; no dependency needs an
# install script (the only native code is our own addon, built in the next stage).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- build -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
# The packages scripts/setup.sh installs for building: clang-16 compiles bpf/ (against the UAPI
# headers of linux-libc-dev, no BTF needed), node-gyp builds addon/ against the system libbpf
# found with pkg-config.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        clang-16 libbpf-dev libelf-dev zlib1g-dev linux-libc-dev pkg-config make g++ python3 \
    && rm -rf /var/lib/apt/lists/*
# package.json builds the addon with `node-gyp --nodedir=/usr` (Debian's nodejs layout, where
# the headers are in /usr/include/node). This image's Node lives in /usr/local: point
# /usr/include/node at its headers so node-gyp needs no download.
RUN node_prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")" \
    && if [ ! -e /usr/include/node ]; then ln -s "$node_prefix/include/node" /usr/include/node; fi \
    && test -f /usr/include/node/node_api.h && test -f /usr/include/node/common.gypi
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build \
    && test -f bpf/build/map_delete.bpf.o \
    && test -f addon/build/Release/mdt_native.node \
    && test -f dist/receiver/cli.js

# ---- runtime -----------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
# libbpf1 (Debian 12: 1.1.2) is what the addon links; libelf1 and zlib1g are libbpf's own.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libbpf1 libelf1 zlib1g \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# package.json marks the package root: the receiver finds bpf/build/ from it.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/receiver ./dist/receiver
COPY --from=build /app/bpf/build/map_delete.bpf.o ./bpf/build/map_delete.bpf.o
COPY --from=build /app/addon/build/Release/mdt_native.node ./addon/build/Release/mdt_native.node
COPY scripts/docker-find-pid.sh ./scripts/docker-find-pid.sh
# The OTLP .proto files the otlp receiver loads at start-up (found from the package root), and
# the OTel Go SDK struct offsets, read from receiver/golang/ under the package root.
COPY proto ./proto
COPY receiver/golang/otel-sdk-offsets.json ./receiver/golang/otel-sdk-offsets.json
# The default configuration (the CMD below). docker-compose.yml mounts
# config/tracer-pipeline.yaml next to it and runs that one, so editing it needs no rebuild.
COPY config/tracer.yaml /etc/map-delete-tracer/tracer.yaml
RUN ln -s /app/dist/receiver/cli.js /usr/local/bin/map-delete-tracer \
    && chmod +x dist/receiver/cli.js scripts/docker-find-pid.sh \
    && node -e "require('/app/addon/build/Release/mdt_native.node')"
ENV NODE_ENV=production
# Root inside the container (BPF needs it); the capabilities come from the container runtime.
USER 0:0
ENTRYPOINT ["node", "/app/dist/receiver/cli.js"]
CMD ["run", "--config", "/etc/map-delete-tracer/tracer.yaml"]
