# syntax=docker/dockerfile:1
#
# One image for every healthcard service; the subcommand picks the service:
#   docker run --rm healthcard:local gateway
# docker-compose.yml runs one container per service from this image.

# --- build ------------------------------------------------------------------------
# The crate bundles SQLite, libpq and OpenSSL (built from source), so the build needs
# only a C compiler, make and perl, which this image has; no -dev packages.
FROM rust:1.95-bookworm AS build
WORKDIR /src

# Only what the build reads: the manifest, the lock file, the code and the migrations
# (embedded into the binary at compile time).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations

# The registry and target caches survive between builds of this Dockerfile (BuildKit);
# the binary is copied out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin healthcard \
    && install -D -m 0755 target/release/healthcard /out/healthcard

# --- runtime ----------------------------------------------------------------------
FROM debian:bookworm-slim

# ca-certificates: TLS to PostgreSQL and to other services; curl: the health checks in
# docker-compose.yml.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

# A fixed non-root user. The data dir holds SQLite files (when no PostgreSQL URL is
# given) and the gateway's token signing key; a volume mounted there starts with this
# ownership.
RUN groupadd --system --gid 10001 healthcard \
    && useradd --system --uid 10001 --gid healthcard \
        --home-dir /var/lib/healthcard --no-create-home --shell /usr/sbin/nologin healthcard \
    && install -d -o healthcard -g healthcard -m 0750 /var/lib/healthcard

COPY --from=build /out/healthcard /usr/local/bin/healthcard

ENV HEALTHCARD_DATA_DIR=/var/lib/healthcard
WORKDIR /var/lib/healthcard
USER 10001:10001

# gateway, collection, verification, cardmaking, settlement (defaults; each listens on
# 127.0.0.1 unless HEALTHCARD_<SERVICE>_LISTEN says otherwise).
# Their operations listeners (/readyz, /metrics) stay on 127.0.0.1:9080 to 9084 unless
# HEALTHCARD_<SERVICE>_OPS_LISTEN says otherwise: not exposed.
EXPOSE 8080 8081 8082 8083 8084

# SIGTERM stops the servers gracefully (10 s to finish requests in flight).
STOPSIGNAL SIGTERM
ENTRYPOINT ["healthcard"]
CMD ["--help"]
